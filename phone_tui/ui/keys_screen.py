"""The help screen: every key of the current view, the phone, the stage and the app, with the
key as the app displays it (a [keymap] remap shows its new key). ``?`` or F1 opens it, and
the command palette's "Keys"."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from phone_tui.ui import bindings

TEXT_BOX = "Text box"
GROUPS = ("This screen", "Phone", "Stage", "Training", "App", TEXT_BOX)
# A group of keys: its title, and (keys as displayed, description) rows.
KeyGroup = tuple[str, list[tuple[str, str]]]
# Our keys in the order bindings.py defines them (the Stage group F3…F9, Ctrl+R).
ORDER = {binding.id: index for index, binding in enumerate(bindings.ALL) if binding.id}
# A text box's own keys that are not listed one by one: cursor motion and selection do what
# they do in any text box (one row, CURSOR, says so).
UNLISTED = ("cursor", "select", "word", "page")
CURSOR = "Move the cursor (Home, End, page keys; Shift selects)"


def _group_of(namespace: DOMNode, binding: Binding) -> str:
    from textual.widgets import Input, TextArea

    from phone_tui.ui.handset_view import HandsetView

    if binding.id not in ORDER and isinstance(namespace, TextArea | Input):
        return TEXT_BOX  # Textual's own editing keys
    if isinstance(namespace, App):
        prefix = (binding.id or "").partition(".")[0]
        return {"stage": "Stage", "script": "Stage", "coach": "Training"}.get(prefix, "App")
    if isinstance(namespace, HandsetView):
        return "Phone"
    if isinstance(namespace, Screen) and not namespace.is_modal:
        return "App"  # Tab between controls, copying selected text
    return "This screen"


def key_groups(screen: Screen) -> list[KeyGroup]:
    """The keys that work on ``screen`` now, in groups: ours first, in the order bindings.py
    defines them, each with its longer description (the tooltip); Textual's own after ours,
    a text box's editing keys in a last group of their own."""
    app = screen.app
    active = [entry for entry in screen.active_bindings.values() if not entry.binding.system]
    # Sorted is stable: Textual's keys (no id of ours) keep their own order, after ours.
    ours_first = sorted(active, key=lambda entry: ORDER.get(entry.binding.id, len(ORDER)))
    # One row per thing to do: keys for the same action, or with the same description (the
    # PIN pad's ten digits), share it.
    rows: dict[str, dict[str, list[str]]] = {group: {} for group in GROUPS}
    actions: dict[tuple[str, str], str] = {}
    for entry in ours_first:
        binding = entry.binding
        group = _group_of(entry.node, binding)
        described = binding.tooltip or binding.description or binding.action
        if group == TEXT_BOX and any(word in described.lower() for word in UNLISTED):
            continue
        text = actions.setdefault((group, binding.action), described)
        keys = rows[group].setdefault(text, [])
        shown = app.get_key_display(binding)
        if shown not in keys:
            keys.append(shown)
    if rows[TEXT_BOX]:
        rows[TEXT_BOX] = {CURSOR: ["↑↓←→"], **rows[TEXT_BOX]}
    return [(group, [(_joined(keys), text) for text, keys in rows[group].items()])
            for group in GROUPS if rows[group]]


def _joined(keys: list[str]) -> str:
    """``0 1 2 … 9`` as ``0–9``: a run of three or more consecutive characters."""
    codes = [ord(key) for key in keys if len(key) == 1]
    if len(codes) == len(keys) >= 3 and codes == list(range(codes[0], codes[0] + len(codes))):
        return f"{keys[0]}–{keys[-1]}"
    return " ".join(keys)


class KeysScreen(ModalScreen[None]):
    """Every key, in groups; it scrolls when long. The keys of ``keys.close`` (Escape, ``?``,
    q, F1 unless remapped) close it, and the last line says which."""

    DEFAULT_CSS = """
    KeysScreen { align: center middle; }
    KeysScreen #keys { width: 76; max-width: 100%; height: auto; max-height: 90%;
                       border: heavy $primary; border-title-color: $text;
                       background: $surface; padding: 0 1; }
    KeysScreen .keys-title { width: 100%; margin-top: 1; text-style: bold; color: $text-accent; }
    KeysScreen .keys-group { width: 100%; height: auto; grid-size: 2; grid-rows: auto;
                             grid-gutter: 0 2; }
    KeysScreen .keys-key { width: 100%; text-align: right; text-style: bold; color: $accent; }
    KeysScreen .keys-text { width: 100%; }
    KeysScreen #keys-close { width: 100%; color: $text-muted; margin-top: 1; }
    """
    BINDINGS = bindings.KEYS_SCREEN

    def __init__(self, groups: list[KeyGroup]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        width = max((len(keys) for _, rows in self.groups for keys, _ in rows), default=4)
        with VerticalScroll(id="keys"):
            for title, rows in self.groups:
                yield Static(title, classes="keys-title")
                with Grid(classes="keys-group") as grid:
                    grid.styles.grid_columns = f"{width} 1fr"
                    for keys, text in rows:
                        yield Static(keys, classes="keys-key", markup=False)
                        yield Static(text, classes="keys-text", markup=False)
            yield Static("", id="keys-close", markup=False)

    def on_mount(self) -> None:
        self.query_one("#keys").border_title = "Keys"
        self.query_one("#keys").focus()
        self.query_one("#keys-close", Static).update(self.closing_hint())

    def closing_hint(self) -> str:
        """Which keys close this, as bound now: a [keymap] remap of ``keys.close`` shows its
        keys, and a key the focused list takes for itself is not named."""
        keys = [self.app.get_key_display(entry.binding)
                for entry in self.active_bindings.values()
                if entry.node is self and entry.binding.id == "keys.close"]
        if not keys:
            return ""
        listed = keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} or {keys[-1]}"
        return f"{listed} closes this."

    def action_close(self) -> None:
        self.dismiss(None)
