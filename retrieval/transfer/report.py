"""What an import of a document does to each account, for the command's report."""

from dataclasses import dataclass

from . import changes

CONFIRM = ("these rewrites need a confirmation: check them with --dry-run, then run again "
           "with --confirm-rewrites")


@dataclass
class AccountRow:
    where: str  # accounts[i] in the file
    label: str
    owner: str
    result: changes.AccountChanges

    def lines(self):
        head = f"{self.where}: {self.result.action} {self.label} -> {self.owner}"
        if self.result.disabled:
            head += (": created disabled (enabled is false in the file)" if self.result.created
                     else ": disabled by this import (enabled is false in the file)")
        return [head, *changes.lines(self.result)]


def account_rows(plan):
    """An AccountRow for each account the plan creates or changes, in file order."""
    rows = []
    for i, entry in enumerate(plan.accounts):
        result = changes.of_entry(entry)
        if result.action != "unchanged":
            account = entry.account
            rows.append(AccountRow(f"accounts[{i}]", f"{account.username}@{account.host}",
                                   entry.owner, result))
    return rows


def needing_confirmation(rows):
    """Error lines for the rewrites a person must confirm, empty when there are none."""
    return [f"{r.where}: {r.label}: {w}" for r in rows for w in r.result.warnings]
