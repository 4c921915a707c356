"""One phone's notifications: the banner under its status bar and the shade's history.

The board is plain Python driven by the handset's clock (``now`` comes in as an argument), so
a banner's timeout is as deterministic as the clock a test holds. The HandsetView owns one
board, turns model events into notices (``notice_for_event``) and shows the board in its
NoticeBanner and NoticeShade.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from phone_tui.handset.events import CellRefused, Event, MessageWaiting, NetworkWarning

if TYPE_CHECKING:
    from phone_tui.handset.handset import Handset

DEFAULT_TIMEOUT = 5.0  # Textual's toasts stay as long
HISTORY = 20  # what the shade keeps
PREVIEW = 80  # characters of a message kept for its notification (one line is shown)
SEVERITIES = ("information", "warning", "error")


@dataclass(frozen=True)
class Notice:
    """A notification. ``private`` ones quote a message (its sender or text): they go when the
    phone locks and when the message disappears (``forget_at``). Notices with the same ``key``
    replace one another (the lock screen's count of waiting messages)."""

    title: str
    message: str
    severity: str = "information"
    timeout: float = DEFAULT_TIMEOUT
    markup: bool = False
    private: bool = False
    one_line: bool = False  # each line of ``message`` cut to one line of the banner
    key: str | None = None
    number: str | None = None  # the conversation it is about: opening it clears it
    unlocked: bool = False  # posted while the OS was unlocked: it may name what is in it
    at: float = 0.0
    forget_at: float | None = None
    # Lines that come together (one cell's refusals): joined into the banner up with the same
    # key, posted within MERGE_WITHIN, rather than one hiding the others.
    merge: bool = False


MERGE_WITHIN = 1.0  # s
MERGE_PARTS = 6


class NoticeBoard:
    """The banner shows the newest notice until its timeout, and counts the ones that came
    meanwhile; the history keeps the last ``HISTORY`` for the shade, newest first."""

    def __init__(self, history: int = HISTORY) -> None:
        self.history: deque[Notice] = deque(maxlen=history)
        self.current: Notice | None = None
        self.hidden = 0  # notices that came while the banner was up, behind the newest
        self._until = 0.0
        self.version = 0  # changes whenever what the banner shows changes
        self.revision = 0  # changes whenever the history changes (the shade redraws)

    def post(self, notice: Notice, now: float, *, banner: bool = True) -> None:
        """Keep ``notice`` for the shade and, unless ``banner`` is False (the view on screen
        shows it itself), put it up in the banner."""
        notice = replace(notice, at=now)
        current = self.current
        if (notice.merge and current is not None and current.key == notice.key
                and now - current.at <= MERGE_WITHIN):
            parts = current.message.split(", ")
            if notice.message not in parts:
                parts = [*parts, notice.message][-MERGE_PARTS:]
            notice = replace(notice, message=", ".join(parts), at=current.at)
        self.revision += 1
        if notice.key is not None:
            kept = [n for n in self.history if n.key != notice.key]
            self.history.clear()
            self.history.extend(kept)
        self.history.appendleft(notice)
        if not banner:
            if self.current is not None and notice.key is not None \
                    and self.current.key == notice.key:
                self.dismiss()
            return
        if self.current is not None and not (notice.key is not None
                                             and notice.key == self.current.key):
            self.hidden += 1
        self.current = notice
        self._until = now + (notice.timeout if notice.timeout and notice.timeout > 0
                             else DEFAULT_TIMEOUT)
        self.version += 1

    def dismiss(self) -> None:
        """Take the banner down (what it counted stays in the shade)."""
        if self.current is not None:
            self.current, self.hidden = None, 0
            self.version += 1

    def expire(self, now: float) -> None:
        """The banner goes at its timeout; a private notice goes with its message."""
        if self.current is not None and now >= self._until:
            self.dismiss()
        self._keep(lambda n: n.forget_at is None or n.forget_at > now)

    def forget(self, *, private: bool = False, key: str | None = None,
               number: str | None = None, unlocked: bool = False) -> None:
        """Drop private notices, those with ``key``, those about the conversation with
        ``number`` (it was opened), or those posted while unlocked (the phone locked);
        everything when none is given (the persona was wiped or is no longer running)."""
        if number is not None:
            self._keep(lambda n: n.number != number)
            return
        if unlocked:
            self._keep(lambda n: not (n.unlocked or n.private))
            return
        if not private and key is None:
            self.history.clear()
            self.revision += 1
            self.dismiss()
            return
        self._keep(lambda n: not ((private and n.private) or (key is not None and n.key == key)))

    def _keep(self, wanted) -> None:  # noqa: ANN001
        if all(wanted(n) for n in self.history):
            return
        kept = [n for n in self.history if wanted(n)]
        self.history.clear()
        self.history.extend(kept)
        self.revision += 1
        if self.current is not None and not wanted(self.current):
            self.dismiss()


# Characters that draw nothing yet are not whitespace to str.split(): a sender could pad a
# line with them until the shade wraps its tail into what looks like a line of its own.
BLANKS = {"\u2800", "\u3164", "\u115f", "\u1160", "\uffa0"}
NAME_LENGTH = 40


def plain_line(text: str, limit: int) -> str:
    """``text`` as one line of at most ``limit`` characters, ending in "…" when cut: control,
    format (bidi, zero width) and line-separator characters go, blanks of any kind become
    one space."""
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char in BLANKS or category in ("Zs", "Zl", "Zp") or char in "\t\n\r":
            kept.append(" ")
        elif category not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            kept.append(char)
    line = " ".join("".join(kept).split())
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def waiting_text(count: int) -> str:
    """The lock screen's words for messages that wait: no sender, no text. While locked the
    phone cannot tell a text from a read receipt (both are ciphertext), so it says what it
    knows: encrypted messages are waiting."""
    return f"{count} encrypted message{'s' if count != 1 else ''} waiting\nUnlock to read."


_REFUSED = {"downgrade_2g": "downgrade to 2G", "null_cipher": "no cipher",
            "no_network_authentication": "a cell that cannot prove itself"}


def _refused_briefly(event: CellRefused) -> str:
    """A refusal in a few words for the banner: "IMSI request", "downgrade to 2G"..."""
    if event.kind == "identity_request":
        for identity in ("IMSI", "IMEI"):
            if f"({identity})" in event.text:
                return f"{identity} request"
    return _REFUSED.get(event.kind) or event.text.removesuffix(" \u2014 refused")


def notice_for_event(handset: Handset, event: Event, *, looking_at: str | None,
                     waiting: int) -> Notice | None:
    """The notification a model event makes, if any. ``looking_at``: the number whose chat
    is on screen (its messages need none); ``waiting``: messages kept while locked so far."""
    if isinstance(event, MessageWaiting):
        return Notice("Messages", waiting_text(waiting), key="waiting")
    if isinstance(event, CellRefused | NetworkWarning):
        # Android 16's "Mobile network security" / Rayhunter: in modem.cells.TEXTS's words;
        # the OS's policy and settings already chose which ones are said at all.
        # One cell's refusals come together: one banner says them all, each in a few words
        # (the Network app lists them in full).
        if isinstance(event, CellRefused):
            return Notice("Network security: refused", _refused_briefly(event),
                          severity="warning", key="cell-refused", merge=True)
        return Notice("Network security", event.text, severity="warning",
                      key=f"cell-{event.kind}")
    messenger = handset.messenger
    if messenger is None:
        return None  # locked: no message can be read (nor is the messenger loaded)
    from phone_tui.handset.messenger import MessageReceived
    from phone_tui.handset.texts import TextReceived

    if isinstance(event, TextReceived):
        return _text_notice(handset, event, looking_at)
    if not isinstance(event, MessageReceived) or event.number == looking_at:
        return None
    if handset.answering_locked:
        # Open for a call only (answered on the lock screen, or guarded by the auto-lock):
        # like the lock screen, the banner says that a message came, not who sent what.
        return Notice("New message", "Unlock the phone to read it.", key="guarded")
    contact = messenger.contact(event.number)
    name = plain_line(contact.name if contact is not None and contact.name else "",
                      NAME_LENGTH) or event.number
    recent = messenger.history(event.number, limit=8)
    message = next((m for m in recent if m.uuid == event.uuid), None)
    if message is None:
        return None  # gone already (a timer of a few seconds, a wipe)
    preview = plain_line(message.body, PREVIEW)
    return Notice("New message", f"{name}\n{preview}", private=True, one_line=True,
                  number=event.number, forget_at=message.expires_at)


def _text_notice(handset: Handset, event: Event, looking_at: str | None) -> Notice | None:
    """A plain SMS came: its banner, as a message's (not while its thread is on screen)."""
    texts = handset.texts
    number = getattr(event, "number", "")
    if texts is None or number == looking_at:
        return None
    if handset.answering_locked:
        return Notice("New SMS", "Unlock the phone to read it.", key="guarded")
    try:
        text = texts.get(getattr(event, "text_id", -1))
    except KeyError:
        return None
    from phone_tui.handset.numbers import written

    messenger = handset.messenger
    name = written(number)  # as the rest of the phone writes numbers
    for contact in messenger.contacts() if messenger is not None else []:
        if contact.number.replace(" ", "") == number and contact.name:
            name = plain_line(contact.name, NAME_LENGTH)
    return Notice("New SMS", f"{name}\n{plain_line(text.body, PREVIEW)}", private=True,
                  one_line=True)
