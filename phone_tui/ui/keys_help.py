"""The help screen's way in, for an App: ``?``/F1 and the palette's "Keys" open it. The screen
itself (keys_screen.py) is loaded when first opened: start-up only needs this mixin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.app import SystemCommand

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen


class KeysHelp:
    """For an App: ``action_keys`` opens the help screen, and the palette's "Keys" opens it
    (instead of Textual's key panel, which a phone frame has no room for)."""

    def action_keys(self: App) -> None:  # type: ignore[misc]
        from textual.command import CommandPalette

        from phone_tui.ui.keys_screen import KeysScreen, key_groups

        screens = [s for s in self.screen_stack if not isinstance(s, CommandPalette)]
        if screens and not isinstance(screens[-1], KeysScreen):
            self.push_screen(KeysScreen(key_groups(screens[-1])))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        view = getattr(self, "active_handset_view", lambda: None)()
        call_only = view is not None and view.handset.answering_locked
        for command in super().get_system_commands(screen):  # type: ignore[misc]
            if call_only and command.title == "Theme":
                continue  # a phone open for a call only offers the call (and quitting)
            if command.title == "Keys":
                yield SystemCommand("Keys", "Every key of this screen, the phone and the app",
                                    self.action_keys)  # type: ignore[attr-defined]
            else:
                yield command

