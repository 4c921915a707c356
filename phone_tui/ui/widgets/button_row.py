"""A row of buttons side by side; the arrow keys move between them."""

from __future__ import annotations

from textual import events
from textual.containers import Horizontal
from textual.widgets import Button

from phone_tui.ui import bindings


class ButtonRow(Horizontal):
    """Buttons side by side; ← and → move among the row's enabled buttons and stop at its
    ends (Tab goes on to the rest of the view)."""

    BINDINGS = bindings.BUTTON_ROW

    def __init__(self, *children: Button, id: str | None = None) -> None:
        super().__init__(*children, id=id)
        self._chosen: str | None = None  # the id of the button focused last

    def buttons(self) -> list[Button]:
        """The buttons that can take the keyboard now (shown and enabled)."""
        return [button for button in self.query(Button)
                if button.display and not button.disabled and button.focusable]

    def action_move(self, step: int) -> None:
        buttons = self.buttons()
        focused = self.screen.focused
        if focused not in buttons:
            self.focus_button()
            return
        index = buttons.index(focused) + step  # type: ignore[arg-type]
        if 0 <= index < len(buttons):
            # Now, not with focus() (deferred behind queued keys): Right Right moves twice.
            self.screen.set_focus(buttons[index])

    def focus_button(self) -> None:
        """Focus the button focused last if it can still take the keyboard, else the first
        that can (a button disabled under the focus hands it to its neighbour)."""
        buttons = self.buttons()
        chosen = next((b for b in buttons if b.id is not None and b.id == self._chosen), None)
        if chosen is None and buttons:
            chosen = buttons[0]
        if chosen is not None:
            self.screen.set_focus(chosen)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, Button):
            self._chosen = event.widget.id


class RowButton(Button):
    """A flat one-line button of a dialog or a row: the focused one is drawn in reverse (a
    compact button's own focus style is a faint tint), and the footer offers ⏎ for it."""

    BINDINGS = bindings.ROW_BUTTON
    DEFAULT_CSS = """
    RowButton { min-width: 10; }
    RowButton:focus { text-style: bold reverse; }
    """

    def __init__(self, label: str, *, id: str | None = None,  # noqa: A002 - Textual's name
                 variant: str = "default") -> None:
        super().__init__(label, id=id, variant=variant, compact=True)  # type: ignore[arg-type]
