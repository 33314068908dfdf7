"""A run's notes, capped: the first distinct notes word for word, then a count per kind.

A mailbox of 6,000 broken messages used to give a run 6,000 notes, the
whole JSON list rewritten for each (quadratic time, a 774 KB row). Now the
row stays a few kilobytes whatever happens, and says how much was left out:
"and 5,950 more like this: message 51: …".
"""

import re

from popadmin.text import storable

KEEP = 50  # distinct notes kept word for word
KINDS = 20  # summary lines, one per kind of note
NOTE_CHARS = 500  # one note's length, beyond which it is cut

_MORE = re.compile(r"^and ([\d,]+) more like this: (.*)$", re.DOTALL)
_OTHER = re.compile(r"^and ([\d,]+) other notes$")


def kind_of(note: str) -> str:
    """What similar notes share: the words, without message numbers, addresses or counts."""
    text = re.sub(r"^message \S+: ", "", note)
    text = re.sub(r"\S+@\S+", "@", text)
    return re.sub(r"\d+", "#", text)[:60]


class NoteLog:
    def __init__(self, notes: list[str]):
        self.kept: list[str] = []
        self.kinds: dict[str, list] = {}  # kind -> [count, first example]
        self.other = 0  # summarised notes beyond KINDS kinds
        self.summarised = 0
        self.listed: list[str] | None = None  # the list last handed out, to spot outside edits
        for note in notes:  # a stored list, e.g. after refresh_from_db()
            if more := _MORE.match(note):
                count = int(more[1].replace(",", ""))
                self.kinds[kind_of(more[2])] = [count, more[2]]
                self.summarised += count
            elif other := _OTHER.match(note):
                self.other = int(other[1].replace(",", ""))
                self.summarised += self.other
            else:
                self.kept.append(note)

    def add(self, text) -> bool:
        """Take one note; True when the list changed more than a count."""
        note = storable(text, NOTE_CHARS)
        if len(self.kept) < KEEP and note not in self.kept:
            self.kept.append(note)
            return True
        self.summarised += 1
        kind = kind_of(note)
        if kind in self.kinds:
            self.kinds[kind][0] += 1
            return False
        if len(self.kinds) < KINDS:
            self.kinds[kind] = [1, note]
            return True
        self.other += 1
        return self.other == 1

    def as_list(self) -> list[str]:
        summary = [f"and {count:,} more like this: {example}"
                   for count, example in self.kinds.values()]
        if self.other:
            summary.append(f"and {self.other:,} other notes")
        return [*self.kept, *summary]
