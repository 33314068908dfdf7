"""Django's MAILERS setting from one EMAIL_URL (django-environ's email URL forms).

    smtp+tls://user:password@smtp.example.com:587   STARTTLS
    smtp+ssl://user:password@smtp.example.com:465   TLS from the first byte
    smtp://127.0.0.1:25                             a local relay
    consolemail://                                  print to the log (default)
"""

import environ

# django-environ's setting names -> the SMTP backend's options.
_SMTP_OPTIONS = {
    "EMAIL_HOST": "host",
    "EMAIL_PORT": "port",
    "EMAIL_HOST_USER": "username",
    "EMAIL_HOST_PASSWORD": "password",
    "EMAIL_USE_TLS": "use_tls",
    "EMAIL_USE_SSL": "use_ssl",
}
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
SMTP_TIMEOUT = 30  # seconds; without one a stuck relay holds the alert task forever


def mailers_from_url(url: str) -> dict:
    config = environ.Env.email_url_config(url)
    backend = config["EMAIL_BACKEND"]
    options = {}
    if backend == SMTP_BACKEND:
        options = {option: config[name] for name, option in _SMTP_OPTIONS.items()
                   if config.get(name) not in (None, "")}
        options["timeout"] = SMTP_TIMEOUT
    elif config.get("EMAIL_FILE_PATH"):
        options["file_path"] = "/" + config["EMAIL_FILE_PATH"].lstrip("/")
    return {"default": {"BACKEND": backend, "OPTIONS": options}}
