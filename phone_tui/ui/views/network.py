"""The Network app: the link's profile and registration, live sparklines, airplane mode."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal
from textual.widgets import Button, Sparkline, Static, Switch

from phone_tui.modem.monitor import LinkMonitor
from phone_tui.ui import bindings
from phone_tui.ui.views.base import ChoiceView, PhoneView, set_text
from phone_tui.ui.widgets.status_bar import network_label, signal_markup
from phone_tui.ui.widgets.text_switch import TextSwitch

NET_LOG_SHOWN = 4  # refusals and warnings listed (Settings > Network security lists more)
TEST_BURST = 20
TEST_SIZE = 1024
GRAPHS = ("rtt", "rate", "loss")  # ids of the three graphs, in order


def _rate(bps: float) -> str:
    if bps >= 1_000_000:
        return f"{bps / 1_000_000:.1f} Mbit/s"
    if bps >= 1000:
        return f"{bps / 1000:.0f} kbit/s"
    return f"{bps:.0f} bit/s"


def _ms(ms: float | None) -> str:
    return "—" if ms is None else f"{ms:.0f} ms"


def _percent(percent: float) -> str:
    return f"{percent:.1f} %"


def _bytes(count: int) -> str:
    return f"{count / 1024:.1f} KiB" if count >= 1024 else f"{count} B"


class NetworkView(PhoneView):
    """Shows what the modem sees, and lets the user change the profile or go airplane."""

    TITLE = "Network"
    BINDINGS = bindings.NETWORK
    DEFAULT_CSS = """
    NetworkView #net-facts { height: auto; grid-size: 2; grid-columns: 13 1fr; grid-rows: 1; }
    NetworkView .net-name { text-style: bold; }
    NetworkView #net-airplane-row { height: 1; margin-top: 1; }
    NetworkView #net-airplane-row Static { width: 13; text-style: bold; }
    NetworkView .spark-label { height: 1; margin-top: 1; }
    NetworkView .spark-row { height: 2; }
    NetworkView Sparkline { height: 2; width: 1fr; }
    NetworkView .spark-scale { width: 12; height: 2; text-align: right; color: $text-muted; }
    NetworkView #net-counters { height: auto; color: $text-muted; margin-top: 1; }
    NetworkView #net-buttons { height: 1; margin-top: 1; }
    NetworkView #net-security { height: auto; margin-top: 1; color: $text-warning; }
    NetworkView #net-buttons Button { margin-right: 2; }
    """

    def __init__(self) -> None:
        super().__init__(id="network")
        self.monitor = LinkMonitor()

    def compose(self) -> ComposeResult:
        yield self.title_label()
        with Grid(id="net-facts"):
            for key, name in (("profile", "Link profile"), ("registration", "Registration"),
                              ("signal", "Signal"), ("cell", "Cell")):
                yield Static(name, classes="net-name")
                yield Static("", id=f"net-{key}")
        with Horizontal(id="net-airplane-row"):
            yield Static("Airplane")
            yield TextSwitch(self._modem_airplane(), id="net-airplane")
        for key in GRAPHS:
            yield Static("", id=f"net-{key}-label", classes="spark-label")
            with Horizontal(classes="spark-row"):
                yield Sparkline([], id=f"net-{key}")
                yield Static("", id=f"net-{key}-scale", classes="spark-scale")
        yield Static("", id="net-counters")
        yield Static("", id="net-security")
        with Horizontal(id="net-buttons"):
            yield Button("Link profile…", id="net-profile-button", compact=True)
            yield Button("Test burst", id="net-test-button", compact=True, variant="primary")

    def _modem_airplane(self) -> bool:
        modem = self.handset.modem
        return bool(modem and modem.airplane)

    def on_mount(self) -> None:
        self.tick()

    def on_return(self) -> None:
        self._show_link()

    def tick(self) -> None:
        """Once a second: a new sample of the link, then every figure redrawn from it."""
        modem = self.handset.modem
        if modem is not None:
            self.monitor.sample(modem.stats, modem.now(), in_service=modem.in_service)
        self._show_link()

    def _show_link(self) -> None:
        modem = self.handset.modem
        if modem is None:
            set_text(self.query_one("#net-registration", Static), "not attached yet")
            return
        profile = modem.profile
        set_text(self.query_one("#net-profile", Static), profile.label)
        label = network_label(modem.registration, profile.network_type)
        set_text(self.query_one("#net-registration", Static), f"{modem.registration} · {label}")
        set_text(self.query_one("#net-signal", Static),
                 f"{signal_markup(modem.bars)}  {modem.bars} of 4 bars")
        switch = self.query_one("#net-airplane", TextSwitch)
        if switch.value != modem.airplane:
            with switch.prevent(Switch.Changed):
                switch.value = modem.airplane
        self._show_cell()
        self._show_graphs()
        stats = modem.stats
        set_text(self.query_one("#net-counters", Static),
                 f"frames {stats.frames_sent} · lost {stats.frames_lost} · garbled "
                 f"{stats.garbled}\n↑ {_bytes(stats.bytes_up)} · ↓ {_bytes(stats.bytes_down)}")

    def _show_cell(self) -> None:
        """The camped cell (its RAT and cipher) and the radio's refusals and warnings, newest
        first (modem.cells.TEXTS's words)."""
        handset = self.handset
        cell = handset.camped
        shown = "none" if cell is None else (
            f"{cell.label} {cell.cipher.upper()}" + ("  unencrypted" if cell.null_cipher else ""))
        set_text(self.query_one("#net-cell", Static), shown)
        log = handset.network_log()
        lines = [f"\u26a0 {escape(event.text)}" for event in reversed(log[-NET_LOG_SHOWN:])]
        set_text(self.query_one("#net-security", Static),
                 "Network security\n" + "\n".join(lines) if lines else "")

    def _show_graphs(self) -> None:
        """Each graph shows one column per sample, newest at the right; the headline is that
        newest column and the scale beside it is the graph's own top and bottom."""
        samples = self.monitor.samples
        last = samples[-1] if samples else None
        headlines = {
            "rtt": f"Round trip  {_ms(last.rtt_ms if last else None)}",
            "rate": f"Throughput  {_rate(last.throughput_bps if last else 0.0)}",
            "loss": f"Loss        {_percent(last.loss_percent if last else 0.0)}",
        }
        fields = {"rtt": ("rtt_ms", _ms), "rate": ("throughput_bps", _rate),
                  "loss": ("loss_percent", _percent)}
        for key, (field, unit) in fields.items():
            graph = self.query_one(f"#net-{key}", Sparkline)
            width = graph.content_region.width or None
            data = self.monitor.series(field, width)
            graph.data = data
            set_text(self.query_one(f"#net-{key}-label", Static), headlines[key])
            set_text(self.query_one(f"#net-{key}-scale", Static),
                     f"{unit(max(data, default=0.0))}\n{unit(min(data, default=0.0))}")

    # ---- actions -------------------------------------------------------------------------------

    def action_profiles(self) -> None:
        self.handset_view.push(ProfileView())

    def action_airplane(self) -> None:
        self.handset_view.set_airplane(not self._modem_airplane())
        self._show_link()

    def action_test(self) -> None:
        """Send a burst to the network's echo service: traffic for the figures above."""
        modem = self.handset.modem
        if modem is None:
            return
        from phone_tui.modem.echo import ECHO_NUMBER

        for index in range(TEST_BURST):
            modem.send(ECHO_NUMBER, bytes([index % 256]) * TEST_SIZE)
        self.notify(f"Sent {TEST_BURST} × {TEST_SIZE} bytes to the echo service.",
                    title="Network")

    @on(Switch.Changed, "#net-airplane")
    def _airplane_switched(self, event: Switch.Changed) -> None:
        event.stop()
        self.handset_view.set_airplane(event.value)
        self._show_link()

    @on(Button.Pressed, "#net-profile-button")
    def _profile_pressed(self) -> None:
        self.action_profiles()

    @on(Button.Pressed, "#net-test-button")
    def _test_pressed(self) -> None:
        self.action_test()


class ProfileView(ChoiceView):
    TITLE = "Link profile"
    LIST_ID = "profile-list"

    def __init__(self) -> None:
        super().__init__(id="link-profile")

    def choices(self) -> list[tuple[str, str]]:
        return [(name, profile.label) for name, profile in self.handset.profiles.items()]

    def current(self) -> str:
        modem = self.handset.modem
        return modem.profile.name if modem else ""

    def choose(self, value: str) -> None:
        self.handset_view.set_link_profile(value)
