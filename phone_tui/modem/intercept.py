"""Lawful intercept: what the carrier hands to an authority about its lines, after 3GPP TS
33.108 (the handover interfaces for packet and circuit services) and ETSI TS 102 232.

Two kinds of product, kept apart as the standard keeps them:

- **IRI** (HI2, intercept-related information): one record per event of a service, with the
  time, the direction seen from the target, the calling and called parties (MSISDN, IMSI,
  IMEI), the cell, the call's state, its duration and release reason. TS 33.108 carries an
  SMS's text in its IRI (the SMS report, ``sMS`` with ``sms-Contents``): the carrier's SMS centre
  holds it in clear, so the record does too. An end-to-end message or call is metadata only.
- **CC** (HI3, content of communication): per call, what the carrier's switch could hand over.
  A plain carrier call's voice is ``decodable`` (protected on the radio hop only, the switch
  holds it in clear); an end-to-end call's is ``ciphertext``.

Record types follow TS 33.108's IRI-BEGIN / IRI-CONTINUE / IRI-END for a call and IRI-REPORT
for events outside one (an SMS, a registration, an end-to-end message). Records are fanned out
to bounded readers (the stage's intercept view) and kept in a bounded history; ``export``
writes them as JSON lines, one object per record, with the keys of ``IriRecord``.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from phone_tui.core.fanout import Fanout

RECORD_TYPES = ("IRI-BEGIN", "IRI-CONTINUE", "IRI-END", "IRI-REPORT", "HI3")
SERVICES = ("registration", "sms", "call", "e2e-message", "e2e-call")
CONTENT = ("", "clear", "decodable", "ciphertext")
MAX_TEXT = 10_000  # characters of an SMS's text kept in a record (a 255-part message is less)
HISTORY = 2000


@dataclass(frozen=True)
class IriRecord:
    """One intercept product. Strings are "" where the service has no such field."""

    seq: int  # its place in this carrier's sequence of records, from 1
    time: str  # ISO 8601, UTC, to the millisecond
    record: str  # one of RECORD_TYPES
    service: str  # one of SERVICES
    direction: str  # "originating" or "terminating" (seen from the calling party's line), ""
    calling: str  # MSISDN
    called: str
    calling_imsi: str = ""
    calling_imei: str = ""
    called_imsi: str = ""
    called_imei: str = ""
    cell: str = ""  # the cell the target line is on, as the carrier knows it
    state: str = ""  # call: setup, alerting, answered, released; sms: submitted, delivered,
    # expired, failed; registration: registered, deregistered; e2e-message: routed, stored
    duration_s: float | None = None  # a call's, from answer to release
    release_reason: str = ""
    sms_text: str | None = None  # a plain SMS's text (HI2's SMS report carries it); else None
    content: str = ""  # one of CONTENT: "clear" for an SMS's text, "decodable" voice, ...
    size: int = 0  # bytes of content (an SMS's user data, an E2E body's ciphertext, HI3 voice)
    ref: str = ""  # correlation: the call's or message's id (hex), so records join up
    codec: str = ""  # HI3 of a call: the voice codec
    frames: int = 0  # HI3 of a call: voice frames handed over

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


class LawfulIntercept:
    """The carrier's intercept function: services report events, readers get records."""

    def __init__(self, wall: Callable[[], float] = time.time, history: int = HISTORY) -> None:
        self._wall = wall
        self.recent: deque[IriRecord] = deque(maxlen=history)
        self._fanout: Fanout[IriRecord] = Fanout()
        self._seq = 0
        # The subscriber identities the carrier knows (HLR: MSISDN -> IMSI; the IMEI the
        # phone gave at attach), filled by the carrier.
        self.identities: dict[str, tuple[str, str]] = {}
        self.cells: dict[str, str] = {}  # number -> the cell it is registered on

    def clear(self) -> None:
        self.recent.clear()

    def records(self, maxsize: int = 1000) -> AsyncIterator[IriRecord]:
        return self._fanout.subscribe(maxsize)

    @property
    def dropped(self) -> int:
        return self._fanout.dropped

    def _stamp(self) -> str:
        moment = datetime.fromtimestamp(self._wall(), UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def emit(self, record: str, service: str, *, calling: str, called: str,
             direction: str = "originating", **fields: object) -> IriRecord:
        """Make, keep and fan out one record; the parties' identities and the calling line's
        cell are filled from what the carrier knows."""
        if record not in RECORD_TYPES or service not in SERVICES:
            raise ValueError(f"unknown intercept record {record} {service}")
        text = fields.get("sms_text")
        if isinstance(text, str) and len(text) > MAX_TEXT:
            fields["sms_text"] = text[:MAX_TEXT]
        self._seq += 1
        calling_ids = self.identities.get(calling, ("", ""))
        called_ids = self.identities.get(called, ("", ""))
        fields.setdefault("cell", self.cells.get(calling) or self.cells.get(called, ""))
        made = IriRecord(self._seq, self._stamp(), record, service, direction, calling, called,
                         calling_ids[0], calling_ids[1], called_ids[0], called_ids[1],
                         **fields)  # type: ignore[arg-type]
        self.recent.append(made)
        self._fanout.publish(made)
        return made

    def export(self, path: Path) -> int:
        """Write every record kept so far to ``path`` as JSON lines (a new file, 0600; an
        existing file is never overwritten: FileExistsError). Returns how many."""
        records = list(self.recent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for record in records:
                out.write(record.to_json() + "\n")
        return len(records)
