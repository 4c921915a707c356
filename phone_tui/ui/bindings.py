"""Every key binding, as data: one place to read them, and the ids users remap in [keymap]."""

from __future__ import annotations

from textual.binding import Binding

APP = [
    Binding("ctrl+t", "next_theme", "Theme", id="app.next_theme"),
    Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
]

HANDSET = [
    Binding("ctrl+l", "lock", "Lock", id="handset.lock"),
    Binding("home", "home", "Home", id="handset.home"),
    Binding("escape", "back", "Back", id="handset.back"),
    Binding("f2", "switch_os", "Switch OS", id="handset.switch_os"),
    # Off the footer (it is full at 100 columns): a click on the status bar opens it too.
    Binding("ctrl+n", "notifications", "Notifications", show=False,
            id="handset.notifications"),
]

# The demo stage: presenter controls, for the active phone (or all phones). Priority: they
# work whatever the phone in front shows (a chat's TextArea binds F6 and F7 itself).
STAGE = [
    Binding("f3", "next_phone", "Next phone", id="stage.next_phone", priority=True),
    Binding("f4", "toggle_tap", "Pause tap", id="stage.pause_tap", priority=True),
    Binding("f5", "next_profile", "Profile (all)", id="stage.next_profile", priority=True),
    Binding("f6", "drop_signal", "Signal", id="stage.drop_signal", priority=True),
    Binding("f7", "airplane", "Airplane", id="stage.airplane", priority=True),
    Binding("f8", "inject", "Bot message", id="stage.inject", priority=True),
    Binding("f9", "impersonate", "MITM", id="stage.impersonate", priority=True),
    Binding("ctrl+r", "reset_stage", "Reset", id="stage.reset", priority=True),
]

# A scripted demo (phone-tui demo --script): presenter clickers send PageDown / PageUp.
# Space and Backspace only reach the script when the phone in front does not use them (a
# chat's compose box types spaces); PageDown / PageUp always do.
SCRIPT = [
    Binding("space", "script_next", "Next step", id="script.next"),
    Binding("backspace", "script_back", "Step back", id="script.back"),
    Binding("pagedown", "script_next", "Next step", show=False, priority=True,
            id="script.next_clicker"),
    Binding("pageup", "script_back", "Step back", show=False, priority=True,
            id="script.back_clicker"),
]

COACH = [Binding("f1", "hint", "Hint", id="coach.hint")]

BOOT = [Binding("space,enter,escape", "skip", "Skip", id="boot.skip")]

OS_CARD = [Binding("enter", "choose", "Switch to it", id="switch.choose")]

SWITCH_CARDS = [
    Binding("up", "app.focus_previous", "Previous", show=False, id="switch.up"),
    Binding("down", "app.focus_next", "Next", show=False, id="switch.down"),
]

# Rows of buttons (setup, the switch confirmation): the arrow keys move between them.
BUTTON_ROW = [
    Binding("left", "app.focus_previous", "Previous", show=False, id="buttons.previous"),
    Binding("right", "app.focus_next", "Next", show=False, id="buttons.next"),
]

# Digits are bindings too, not an on_key handler: keys then reach the entry in the order they
# were typed, Enter included, however fast they come.
PIN_ENTRY = [
    Binding("enter", "submit", "OK", id="pin.submit"),
    Binding("backspace", "delete", "Delete digit", id="pin.delete"),
    *(Binding(str(digit), f"digit('{digit}')", str(digit), show=False, id=f"pin.digit{digit}")
      for digit in range(10)),
]

# The phone's lists (Settings, Messages, the choices): OptionList's keys without Home, which
# belongs to the phone. PageUp reaches the first entry.
PHONE_LIST = [
    Binding("up", "cursor_up", "Up", show=False, id="list.up"),
    Binding("down", "cursor_down", "Down", show=False, id="list.down"),
    Binding("pageup", "page_up", "Page up", show=False, id="list.page_up"),
    Binding("pagedown", "page_down", "Page down", show=False, id="list.page_down"),
    Binding("end", "last", "Last", show=False, id="list.last"),
    Binding("enter", "select", "Select", show=False, id="list.select"),
]

APP_GRID = [
    Binding("enter", "launch", "Open", id="home.open"),
    Binding("left", "move(-1, 0)", "Left", show=False, id="home.left"),
    Binding("right", "move(1, 0)", "Right", show=False, id="home.right"),
    Binding("up", "move(0, -1)", "Up", show=False, id="home.up"),
    Binding("down", "move(0, 1)", "Down", show=False, id="home.down"),
]

ALL = (APP + HANDSET + STAGE + SCRIPT + COACH + BOOT + OS_CARD + SWITCH_CARDS + BUTTON_ROW
       + PIN_ENTRY + PHONE_LIST + APP_GRID)
BINDING_IDS = frozenset(binding.id for binding in ALL if binding.id)
