"""The home screen: a clock, the OS and number, and the grid of apps that exist."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Center
from textual.widgets import Digits, Static

from phone_tui.core.clock import wall_time
from phone_tui.handset.messenger import MessageReceived
from phone_tui.handset.texts import TextReceived
from phone_tui.ui.views.base import PhoneView, format_duration, set_text
from phone_tui.ui.widgets.app_grid import AppGrid, AppSpec

APPS = [AppSpec("messages", "Messages", "✉"), AppSpec("network", "Network", "▂▄▆█"),
        AppSpec("settings", "Settings", "⚙"), AppSpec("switch", "Switch OS", "⇄"),
        AppSpec("phone", "Phone", "☏"), AppSpec("sms", "SMS", "\u270e"),
        AppSpec("camera", "Camera", "◉", "camera"), AppSpec("maps", "Maps", "◎", "gps")]


class HomeView(PhoneView):
    BACK = False

    DEFAULT_CSS = """
    HomeView { align-horizontal: center; }
    HomeView Digits { width: 100%; height: 3; text-align: center; margin-top: 1; }
    HomeView #home-date { width: 100%; text-align: center; }
    HomeView #home-greeting { width: 100%; text-align: center; text-style: bold; margin-top: 1; }
    HomeView #home-number { width: 100%; text-align: center; color: $text-muted; }
    /* A phone's home screen: the clock widget on top, the apps below it, the rows a taller
       frame has spread evenly around the grid. */
    HomeView .home-gap { width: 100%; height: 1fr; min-height: 1; }
    HomeView #home-hint { width: 100%; text-align: center; color: $text-muted; dock: bottom; }
    """

    def __init__(self) -> None:
        super().__init__(id="home")
        self._count_pending = False
        self._minute: str | None = None  # what the clock shows (None: not drawn yet)
        self._hint: str | None = None

    def compose(self) -> ComposeResult:
        info = self.handset.persona_info
        now = wall_time(self.handset.clock)
        yield Digits(now.strftime("%H:%M"), id="home-clock")
        yield Static(now.strftime("%A %-d %B"), id="home-date")
        yield Static(f"{info.os_name} {info.os_version}", id="home-greeting")
        yield Static(self.handset.number or "", id="home-number")
        yield Static(classes="home-gap")
        # Only the apps that exist here: no Camera or Maps where policy removed their radio.
        # Nor SMS where the OS has no plain SMS (the Secure OS, by policy).
        apps = [a for a in APPS if (a.radio is None or self.handset.radio_present(a.radio))
                and (a.app_id != "sms" or self.handset.persona_info.plain_sms)]
        with Center():
            yield AppGrid(apps, id="home-apps")
        yield Static(classes="home-gap")
        yield Static("", id="home-hint")

    def on_mount(self) -> None:
        if not self.query(AppGrid):
            return  # replaced before it was shown
        if self.handset_view.top is self:  # not when an app was opened over it at once
            self.query_one(AppGrid).focus_first()
        self.tick()
        self.show_unread()

    def on_return(self) -> None:
        self.show_unread()  # a chat above may have been read

    def on_model_event(self, event: object) -> None:
        # A burst of messages (a flood) counts once, after it, not once per message.
        if isinstance(event, MessageReceived | TextReceived) and not self._count_pending:
            self._count_pending = True
            self.call_after_refresh(self._count_after_burst)

    def _count_after_burst(self) -> None:
        self._count_pending = False
        if self.is_attached and self.query(AppGrid):
            self.show_unread()

    def show_unread(self) -> None:
        """The Messages tile's badge: how many messages are unread."""
        messenger = self.handset.messenger
        unread = messenger.unread_count() if messenger else 0
        grid = self.query_one(AppGrid)
        grid.set_badge("messages", unread)
        texts = self.handset.texts
        if texts is not None:
            grid.set_badge("sms", texts.unread())

    def focus_default(self) -> None:
        self.query_one(AppGrid).focus_chosen()

    def tick(self) -> None:
        """Once a second: only what changed is updated (each update costs a layout pass), and
        the labels are kept, not looked up, so an idle phone does next to nothing here."""
        now = wall_time(self.handset.clock)
        minute = now.strftime("%H:%M")
        if minute == self._minute:
            hint = self._hint_text()
            if hint != self._hint:
                self._hint = hint
                set_text(self.query_one("#home-hint", Static), hint)
            return
        self._minute = minute
        clock = self.query_one("#home-clock", Digits)
        if clock.value != minute:
            clock.update(minute)
        set_text(self.query_one("#home-date", Static), now.strftime("%A %-d %B"))
        self._hint = self._hint_text()
        set_text(self.query_one("#home-hint", Static), self._hint)

    def _hint_text(self) -> str:
        timeout = self.handset.auto_lock_seconds  # kept by the model: no store read
        hint = "arrows + Enter open an app"
        if timeout:
            hint += f"\nlocks after {format_duration(timeout)} idle"
        return hint

    @on(AppGrid.Launch)
    def _launch(self, event: AppGrid.Launch) -> None:
        event.stop()
        self.handset_view.open_app(event.app_id)
