"""The call banner: one line under the status bar while a call goes on behind other views."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

if TYPE_CHECKING:
    from phone_tui.handset.calls import CallInfo


class CallBanner(Static):
    """"☏ Duty Officer · 01:23 — Ctrl+G or click to return"; a click posts ``Pressed``."""

    class Pressed(Message):
        """The banner was clicked: back to the call."""

    def show(self, info: CallInfo, now: float) -> None:
        from phone_tui.ui.views.call import STATE_WORDS, timer_text

        who = info.name or info.number
        if info.state == "connected" and info.connected_at is not None:
            state = timer_text(now - info.connected_at)
            if info.held:
                state += " on hold"
        elif info.direction == "incoming" and info.state == "ringing":
            state = "incoming call"
        else:
            state = STATE_WORDS.get(info.state, info.state).lower()
        text = Content.assemble("☏ ", who, f" · {state} — Ctrl+G")
        if self.content != text:
            self.update(text)

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Pressed())
