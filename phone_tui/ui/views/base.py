"""What every handset screen-widget shares: a title row and access to its HandsetView."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from phone_tui.ui.widgets.phone_list import PhoneList

if TYPE_CHECKING:
    from textual.widget import Widget

    from phone_tui.handset.handset import Handset
    from phone_tui.ui.handset_view import HandsetView


class PhoneView(Vertical):
    """A screen of the phone. ``TITLE`` is shown at the top; ``BACK`` allows Escape to pop it."""

    TITLE = ""
    BACK = True

    DEFAULT_CSS = """
    PhoneView { width: 100%; height: 100%; padding: 0 1; }
    PhoneView OptionList, PhoneView OptionList:focus { height: auto; max-height: 100%;
        border: none; padding: 0; background: $surface; }
    PhoneView > .view-title { width: 100%; text-style: bold; color: $primary;
                              border-bottom: solid $primary 40%; margin-bottom: 1; }
    """

    def title_label(self) -> Static:
        return Static(self._title_text(), classes="view-title")

    def _title_text(self) -> str:
        hint = "  [$foreground-muted]‹ esc[/]" if self.BACK else ""
        return f"{self.TITLE}{hint}"

    def refresh_title(self) -> None:
        """Draw the title again (BACK changed: a call the phone was guarded for opened)."""
        for label in self.query(".view-title").results(Static):
            label.update(self._title_text())

    @property
    def keeps_keys(self) -> bool:
        """Busy with what a key asked for (an unlock): the keys typed meanwhile wait at the
        app until this view calls ``handset_view._keys_may_go()`` (or a later look finds it
        done)."""
        return False

    @property
    def handset_view(self) -> HandsetView:
        """The phone this view is in: looked up once (a view never moves to another phone),
        not on every tick."""
        from phone_tui.ui.handset_view import HandsetView

        found = self.__dict__.get("_handset_view")
        if found is None or self.parent is None:  # not yet found, or removed since: ask
            found = self.query_ancestor(HandsetView)
            self.__dict__["_handset_view"] = found
        return found

    @property
    def handset(self) -> Handset:
        return self.handset_view.handset

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """In this phone's banner (on a stage, the phone this view is in)."""
        from textual.css.query import NoMatches

        try:
            view = self.handset_view
        except NoMatches:  # no longer in a phone
            self.app.notify(message, title=title, severity=severity,  # type: ignore[arg-type]
                            timeout=timeout, markup=markup)
            return
        view.notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def focus_default(self) -> None:
        """Give the keyboard to this view's main control."""
        for widget in self.query("*"):
            if widget.focusable:
                self.focus_now(widget)
                return
        # Nothing to type into: the phone itself takes the keys (Back, Lock, Home).
        self.focus_now(self.handset_view)

    def focus_now(self, widget: Widget) -> None:
        """Focus ``widget`` at once. ``Widget.focus()`` waits its turn in the app's queue: a
        view covered or popped by then (Home, then an app, in one go) would take the keys back
        from the view on top, hidden, and the next key act there."""
        if widget.is_attached:
            self.screen.set_focus(widget)

    def tick(self) -> None:
        """Called once a second while on top of the stack."""

    def on_return(self) -> None:
        """Called when the view above this one was popped."""

    def on_model_event(self, event: object) -> None:
        """Called with every handset event while this view is on top."""

    @property
    def shown_as(self) -> tuple[str, str]:
        """What flows and the coach hear when this view comes on top (a ViewShown event):
        its name (the id: "home", "messages", "radios"...) and the conversation it shows."""
        return (self.id or type(self).__name__, "")


def format_duration(seconds: int) -> str:
    """15 → "15 s", 120 → "2 min"; 0 → "never"."""
    if seconds <= 0:
        return "never"
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min"


def set_text(label: Static, text: str | Content) -> None:
    """Update a label only when its text changes: every update costs a layout pass."""
    if label.content != text:
        label.update(text)


class ChoiceView(PhoneView):
    """Pick one value from a list; the current one is marked with a dot. Subclasses say what
    the choices are, which is current, and what choosing does."""

    LIST_ID = "choice-list"

    def choices(self) -> list[tuple[str, str]]:
        """(value, label) pairs."""
        raise NotImplementedError

    def current(self) -> str:
        raise NotImplementedError

    def choose(self, value: str) -> None:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield self.title_label()
        current, choices = self.current(), self.choices()
        option_list = PhoneList(*[Option(f"{'● ' if value == current else '  '}{label}",
                                          id=value) for value, label in choices],
                                 id=self.LIST_ID)
        values = [value for value, _ in choices]
        if current in values:
            option_list.highlighted = values.index(current)
        yield option_list

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.choose(event.option.id or "")
        self.handset_view.pop()
