"""The home screen's app grid: arrows move, Enter opens, a click opens."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Static

from phone_tui.ui import bindings

COLUMNS = 3


@dataclass(frozen=True)
class AppSpec:
    """An app on the home screen."""

    app_id: str
    name: str
    icon: str
    radio: str | None = None  # the radio the app needs, if any


class AppTile(Static, can_focus=True):
    DEFAULT_CSS = """
    AppTile { width: 11; height: 4; content-align: center middle; text-align: center;
              border: round $panel-lighten-2; }
    AppTile:focus { border: round $primary; background: $boost; text-style: bold; }
    AppTile:hover { background: $boost; }
    AppTile { border-title-align: right; border-title-color: $text;
              border-title-background: $error; border-title-style: bold; }
    """

    def __init__(self, spec: AppSpec) -> None:
        super().__init__(f"{spec.icon}\n{spec.name}", id=f"app-{spec.app_id}")
        self.spec = spec

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.focus()  # the tile to come back to
        self.post_message(AppGrid.Launch(self.spec.app_id))

    def set_badge(self, count: int) -> None:
        """A count in the tile's top border (unread messages); nothing when zero."""
        text = "" if count <= 0 else f"{count}" if count < 100 else "99+"
        wanted = f" {text} " if text else None
        if self.border_title != wanted:
            self.border_title = wanted


class AppGrid(Grid):
    """Tiles for the apps that exist, in rows of three."""

    BINDINGS = bindings.APP_GRID

    DEFAULT_CSS = f"""
    AppGrid {{ grid-size: {COLUMNS}; grid-gutter: 1 1; grid-columns: 11; grid-rows: 4;
               width: {COLUMNS * 12 - 1}; height: auto; }}
    """

    class Launch(Message):
        def __init__(self, app_id: str) -> None:
            self.app_id = app_id
            super().__init__()

    def __init__(self, apps: list[AppSpec], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._apps = apps
        self._chosen: str | None = None  # the app id of the tile last selected

    def compose(self) -> ComposeResult:
        for spec in self._apps:
            yield AppTile(spec)

    def set_badge(self, app_id: str, count: int) -> None:
        for tile in self.query(AppTile):
            if tile.spec.app_id == app_id:
                tile.set_badge(count)

    def focus_first(self) -> None:
        tiles = list(self.query(AppTile))
        if tiles:
            # At once, as the arrows do: a deferred focus() would land after a view pushed
            # over the home screen in the same turn (Home, then an app) took the keys.
            self.screen.set_focus(tiles[0])

    def focus_chosen(self) -> None:
        """Select the tile selected last (the app just left, as a phone does), else the first."""
        tiles = list(self.query(AppTile))
        chosen = next((tile for tile in tiles if tile.spec.app_id == self._chosen), None)
        if chosen is not None:
            self.screen.set_focus(chosen)  # at once, for the reason focus_first gives
        else:
            self.focus_first()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, AppTile):
            self._chosen = event.widget.spec.app_id

    def _index(self) -> int:
        tiles = list(self.query(AppTile))
        focused = self.screen.focused
        return tiles.index(focused) if focused in tiles else 0

    def action_move(self, dx: int, dy: int) -> None:
        tiles = list(self.query(AppTile))
        if not tiles:
            return
        index = self._index() + dx + dy * COLUMNS
        if 0 <= index < len(tiles):
            # Now, not with focus() (which defers the change behind the queued keys): the
            # next arrow of a burst must start from this tile.
            self.screen.set_focus(tiles[index])

    def action_launch(self) -> None:
        tiles = list(self.query(AppTile))
        if tiles:
            self.post_message(self.Launch(tiles[self._index()].spec.app_id))
