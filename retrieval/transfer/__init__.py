"""Mailboxes, remote accounts and global settings in and out as JSON-ready dicts.

The rules live here rather than in the management commands so that other
callers (an upload view, tests) get the same checks. Import is all-or-nothing:
every entry is checked and every problem collected, with its position, before
anything is written. A key absent from an entry keeps an existing record's
value and gives a new record the model default. No message quotes a secret.

schema.py holds the format and its value rules, planner.py checks a document
against them and the database, importer.py writes a checked plan, and
exporter.py reads the setup back out.
"""

from .exporter import export_data
from .importer import import_data, import_with_report, summary
from .schema import TransferError

__all__ = ["TransferError", "export_data", "import_data", "import_with_report", "summary"]
