"""The home screen: the greeting and the grid of apps that exist."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Center
from textual.widgets import Static

from phone_tui.ui.views.base import PhoneView, format_duration
from phone_tui.ui.widgets.app_grid import AppGrid, AppSpec

APPS = [AppSpec("messages", "Messages", "✉"), AppSpec("network", "Network", "▂▄▆█"),
        AppSpec("settings", "Settings", "⚙"), AppSpec("switch", "Switch OS", "⇄"),
        AppSpec("camera", "Camera", "◉", "camera"), AppSpec("maps", "Maps", "◎", "gps")]


class HomeView(PhoneView):
    BACK = False

    DEFAULT_CSS = """
    HomeView { align-horizontal: center; }
    HomeView #home-greeting { width: 100%; text-align: center; text-style: bold; margin-top: 1; }
    HomeView #home-number { width: 100%; text-align: center; color: $text-muted;
                            margin-bottom: 2; }
    HomeView #home-hint { width: 100%; text-align: center; color: $text-muted; dock: bottom; }
    """

    def __init__(self) -> None:
        super().__init__(id="home")

    def compose(self) -> ComposeResult:
        info = self.handset.persona_info
        yield Static(f"{info.os_name} {info.os_version}", id="home-greeting")
        yield Static(self.handset.number or "", id="home-number")
        # Only the apps that exist here: no Camera or Maps where policy removed their radio.
        apps = [a for a in APPS if a.radio is None or self.handset.radio_present(a.radio)]
        with Center():
            yield AppGrid(apps, id="home-apps")
        yield Static("", id="home-hint")

    def on_mount(self) -> None:
        if not self.query(AppGrid):
            return  # replaced before it was shown
        self.query_one(AppGrid).focus_first()
        self.tick()

    def focus_default(self) -> None:
        self.query_one(AppGrid).focus_first()

    def tick(self) -> None:
        timeout = self.handset.auto_lock_seconds
        hint = "arrows + Enter open an app"
        if timeout:
            hint += f"\nlocks after {format_duration(timeout)} idle"
        self.query_one("#home-hint", Static).update(hint)

    @on(AppGrid.Launch)
    def _launch(self, event: AppGrid.Launch) -> None:
        event.stop()
        self.handset_view.open_app(event.app_id)
