"""Settings > Network security: Allow 2G and the unencrypted-network notifications (Android's
names), where the OS's radio policy lets its user choose; "set by policy" lines where not."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static, Switch

from phone_tui.errors import PhoneTuiError
from phone_tui.handset.events import CellCamped, CellRefused, NetworkWarning
from phone_tui.ui.views.base import PhoneView, set_text

SETTINGS = (("allow_2g", "Allow 2G"), ("notify_unencrypted", "Notify about unencrypted networks"))
HINTS = {
    "allow_2g": "2G cannot prove it is the network and its ciphers are weak or none: a fake "
                "base station uses it.",
    "notify_unencrypted": "Say when a cell runs no cipher or asks for the phone's identity.",
}
LOG_SHOWN = 8


class NetworkSecurityView(PhoneView):
    """The two settings, and what the radio refused or warned about."""

    TITLE = "Network security"
    DEFAULT_CSS = """
    NetworkSecurityView Horizontal { height: 3; }
    NetworkSecurityView .netsec-name { width: 1fr; text-style: bold; padding-top: 1; }
    NetworkSecurityView .netsec-hint, NetworkSecurityView .netsec-fixed {
        height: auto; color: $text-muted; }
    NetworkSecurityView #netsec-log { height: auto; margin-top: 1; color: $text-warning; }
    """

    def __init__(self) -> None:
        super().__init__(id="network-security")

    def compose(self) -> ComposeResult:
        yield self.title_label()
        handset = self.handset
        settings = handset.radio_settings()
        user = handset.radio_user_settings()
        for key, label in SETTINGS:
            value = bool(settings and getattr(settings, key))
            if key in user:
                with Horizontal():
                    yield Static(label, classes="netsec-name")
                    yield Switch(value, id=f"netsec-{key}")
                yield Static(HINTS[key], classes="netsec-hint")
            else:
                state = "on" if value else "off"
                yield Static(f"[b]{label}[/]\n{state} \u2014 set by policy",
                             classes="netsec-fixed", id=f"netsec-{key}")
        yield Static("", id="netsec-log")

    def on_mount(self) -> None:
        self._show_log()

    def on_model_event(self, event: object) -> None:
        if isinstance(event, CellRefused | NetworkWarning | CellCamped):
            self._show_log()

    def _show_log(self) -> None:
        log = self.handset.network_log()
        lines = [f"\u26a0 {escape(event.text)}" for event in reversed(log[-LOG_SHOWN:])]
        set_text(self.query_one("#netsec-log", Static),
                 "\n".join(lines) if lines else "No refusals or warnings.")

    @on(Switch.Changed)
    def _switched(self, event: Switch.Changed) -> None:
        event.stop()
        key = (event.switch.id or "").removeprefix("netsec-")
        try:
            self.handset.set_radio_setting(key, event.value)
        except PhoneTuiError as problem:
            self.notify(str(problem), severity="error")
        self._show_log()
