"""Reading an import file's text into the document the planner checks."""

import json

from .schema import TransferError

# The format itself nests five levels (document, section, entry, a mapping or
# the oauth member, a list in it); anything much deeper is not an export.
MAX_DEPTH = 32


def load_document(text):
    """The JSON in `text`; raises TransferError with one line saying why it cannot be read."""
    try:
        data = json.loads(text)
    except RecursionError:
        # The decoder recurses per level: a file of nested brackets would end
        # in a traceback, not an error line.
        raise TransferError([f"not valid JSON: nested more than {MAX_DEPTH} levels deep"])
    except json.JSONDecodeError as e:
        raise TransferError([f"not valid JSON: {e}"])
    if _depth(data) > MAX_DEPTH:
        # Deep but decodable values would reach recursive code later (the
        # JSON columns are re-encoded on save).
        raise TransferError([f"not valid JSON: nested more than {MAX_DEPTH} levels deep"])
    return data


def _depth(data):
    """How deep lists and objects nest in `data`, counted without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        stack.extend((item, level + 1) for item in value)
    return deepest
