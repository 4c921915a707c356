"""The carrier's store-and-forward mailbox on disk: what waits for each number, in order.

Envelopes are end-to-end ciphertext (messages) or delivery reports; the file also shows who
wrote to whom and when, as a carrier's message store would. Expiry is kept as wall-clock time
(the bus runs on loop time, which starts again with each process). Written atomically, 0600; a
file that does not read stops the carrier and is left untouched.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from phone_tui.core.atomic import atomic_write
from phone_tui.errors import CarrierStateError

FORMAT = 1
MAILBOX_FILE = "mailbox.json"

# number → [(wall-clock expiry, envelope bytes)], oldest first
Mailboxes = dict[str, list[tuple[float, bytes]]]


def load_mailboxes(path: Path) -> Mailboxes:
    """What the file holds (nothing when there is no file yet)."""
    def damaged(key: str) -> CarrierStateError:
        return CarrierStateError(path, f"the store-and-forward mailbox is damaged at {key!r}; "
                                       "it was left untouched. Remove it to start with an "
                                       "empty mailbox (what it held is lost)")

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError:
        raise damaged("(the whole file)") from None
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        raise damaged("(the whole file)") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise damaged("format")
    boxes = raw.get("mailboxes")
    if not isinstance(boxes, dict):
        raise damaged("mailboxes")
    out: Mailboxes = {}
    for number, entries in boxes.items():
        if not isinstance(entries, list):
            raise damaged(f"mailboxes.{number}")
        queue = []
        for index, entry in enumerate(entries):
            where = f"mailboxes.{number}[{index}]"
            if not isinstance(entry, dict):
                raise damaged(where)
            expires, envelope = entry.get("expires"), entry.get("envelope")
            if isinstance(expires, bool) or not isinstance(expires, int | float) \
                    or not math.isfinite(expires):
                raise damaged(f"{where}.expires")
            if not isinstance(envelope, str) or not envelope:
                raise damaged(f"{where}.envelope")
            try:
                queue.append((float(expires), bytes.fromhex(envelope)))
            except ValueError:
                raise damaged(f"{where}.envelope") from None
        if queue:
            out[number] = queue
    return out


def save_mailboxes(path: Path, boxes: Mailboxes) -> None:
    data = {"format": FORMAT, "mailboxes": {
        number: [{"expires": expires, "envelope": envelope.hex()} for expires, envelope in queue]
        for number, queue in sorted(boxes.items()) if queue}}
    atomic_write(path, json.dumps(data).encode())
