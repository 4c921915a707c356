"""Disappearing messages: the timer presets' names and the chat's lines about a change.

The timer belongs to the conversation, shared by both phones, as in Signal: the messages each
side sends carry it, and a message (or a timer update) arriving with another one changes it.
"""

from __future__ import annotations

from phone_tui.handset.payloads import TIMER_PRESETS

TIMER_LABELS = {0: "off", 30: "30 s", 300: "5 min", 3600: "1 h", 8 * 3600: "8 h",
                86400: "1 day", 7 * 86400: "1 week", 28 * 86400: "4 weeks"}
assert tuple(TIMER_LABELS) == TIMER_PRESETS


def timer_label(seconds: int) -> str:
    """30 → "30 s", 86400 → "1 day", 0 → "off"."""
    return TIMER_LABELS.get(seconds, f"{seconds} s")


def timer_notice(who: str | None, seconds: int) -> str:
    """The chat's line for a change: "You set disappearing messages to 30 s." (who=None) or
    "Li turned off disappearing messages."."""
    subject = who if who is not None else "You"
    if not seconds:
        return f"{subject} turned off disappearing messages."
    return f"{subject} set disappearing messages to {timer_label(seconds)}."
