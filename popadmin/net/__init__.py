"""The wire layer both apps stand on, with no Django in it.

Retrieval (POP3, IMAP) and delivery (LMTP, SMTP) talk line protocols over
sockets the same way: a bounded line stream (stream), sockets opened with
readable errors (sockets), TLS contexts and handshakes (tls), server text
made safe to show and secrets masked in it (text), the address guard for
restricted accounts (reach), and the errors all of them raise (errors).
"""
