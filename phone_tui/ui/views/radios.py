"""Radios in Settings, and the apps that need them (Camera, Maps) in the open OS."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static, Switch

from phone_tui.errors import PhoneTuiError
from phone_tui.handset.device import RADIOS
from phone_tui.handset.events import RadioChanged
from phone_tui.handset.handset import RADIO_NAMES
from phone_tui.ui.views.base import PhoneView, set_text

VIEWFINDER = """\
┌────────────────────────────┐
│  ╭──╮                      │
│  │▓▓│   ░░░░▒▒▒▒▓▓▓▓████   │
│  ╰──╯   ░░░▒▒▒▓▓▓███████   │
│            ( ◉ )           │
│   ▁▂▃▄▅▆▇█▇▆▅▄▃▂▁          │
└────────────────────────────┘"""


class RadiosView(PhoneView):
    """Each radio: a working switch, or "not present — removed by policy"."""

    TITLE = "Radios"
    DEFAULT_CSS = """
    RadiosView Horizontal { height: 3; }
    RadiosView .radio-name { width: 12; text-style: bold; padding-top: 1; }
    RadiosView .radio-removed { height: 2; color: $text-muted; }
    RadiosView #radios-note { height: auto; color: $text-muted; margin-top: 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="radios")

    def compose(self) -> ComposeResult:
        yield self.title_label()
        handset = self.handset
        for radio in RADIOS:
            name = RADIO_NAMES[radio][0].upper() + RADIO_NAMES[radio][1:]
            if handset.radio_present(radio):
                with Horizontal():
                    yield Static(name, classes="radio-name")
                    yield Switch(handset.radio_on(radio), id=f"radio-{radio}")
            else:
                yield Static(f"[b]{name}[/]  not present — removed by policy",
                             classes="radio-removed", id=f"radio-{radio}")
        if not handset.persona_info.plain_sms:
            # Plain SMS is a service, not a radio, but policy removes it the same way.
            yield Static("[b]SMS[/]  not present \u2014 removed by policy",
                         classes="radio-removed", id="radio-sms")
        if not handset.persona_info.plain_calls:
            # Carrier calls too: the Secure OS's calls are end-to-end encrypted only.
            yield Static("[b]Carrier calls[/]  not present \u2014 removed by policy",
                         classes="radio-removed", id="radio-plain-calls")
        yield Static("Cellular and airplane mode are in the Network app.", id="radios-note")

    @on(Switch.Changed)
    def _switched(self, event: Switch.Changed) -> None:
        event.stop()
        radio = (event.switch.id or "").removeprefix("radio-")
        try:
            self.handset.set_radio(radio, event.value)
        except PhoneTuiError as problem:
            self.notify(str(problem), severity="error")


class _RadioApp(PhoneView):
    """An app that needs one radio: it works while the radio is on and says why otherwise."""

    RADIO = ""

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Static("", id=f"{self.RADIO}-screen")

    def on_mount(self) -> None:
        self.tick()

    def on_model_event(self, event: object) -> None:
        if isinstance(event, RadioChanged):
            self.tick()

    def tick(self) -> None:
        screen = self.query_one(f"#{self.RADIO}-screen", Static)
        if self.handset.radio_on(self.RADIO):
            set_text(screen, self.working())
        else:
            name = RADIO_NAMES[self.RADIO]
            set_text(screen, f"[b $text-warning]{name[0].upper()}{name[1:]} is off.[/]\n\n"
                             f"Turn it on in Settings › Radios to use {self.TITLE}.")

    def working(self) -> str:
        raise NotImplementedError


class CameraView(_RadioApp):
    TITLE = "Camera"
    RADIO = "camera"
    # The viewfinder in the middle of the screen, as a camera app's is (its lines are all
    # one width, so centring each line centres the box).
    DEFAULT_CSS = """
    CameraView #camera-screen { width: 100%; text-align: center; }
    """

    def __init__(self) -> None:
        super().__init__(id="camera")

    def working(self) -> str:
        return f"{VIEWFINDER}\n\n[$text-muted]Live view (emulated).[/]"


class MapsView(_RadioApp):
    TITLE = "Maps"
    RADIO = "gps"

    def __init__(self) -> None:
        super().__init__(id="maps")

    def working(self) -> str:
        return ("[b]Position fix[/] (emulated GPS)\n\n  39.9042° N, 116.4074° E\n"
                "  accuracy ± 8 m · 9 satellites")
