"""Every key binding, as data: one place to read them, and the ids users remap in [keymap].

The footer must fit 100 columns on every view: descriptions are short labels, and the less
used keys are hidden from it (``show=False``). Every key, hidden or not, is listed with its
``tooltip`` (the longer description, when the label is terse) in the help screen (``?``/F1)
and reachable from the command palette.
"""

from __future__ import annotations

from textual.binding import Binding

APP = [
    Binding("ctrl+t", "next_theme", "Theme", show=False, id="app.next_theme",
            tooltip="Next colour theme"),
    Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True,
            tooltip="Quit phone-tui"),
]

HANDSET = [
    Binding("ctrl+l", "lock", "Lock", id="handset.lock",
            tooltip="Lock the phone now (its keys leave memory)"),
    Binding("home", "home", "Home", id="handset.home",
            tooltip="Back to the home screen"),
    Binding("escape", "back", "Back", id="handset.back",
            tooltip="Back one screen"),
    Binding("f2", "switch_os", "OS", id="handset.switch_os",
            tooltip="Switch OS (lock this one, boot the other)"),
    # Off the footer (it is full at 100 columns): a click on the status bar opens it too.
    Binding("ctrl+n", "notifications", "Notifications", show=False,
            id="handset.notifications", tooltip="The notification shade (recent notices)"),
    # The call banner's key (a click on it does the same).
    Binding("ctrl+g", "to_call", "Call", show=False, id="handset.to_call",
            tooltip="Back to the call in progress"),
]

# The help screen. F1 is the training coach's Hint where there is one: the coach's binding
# comes first in PhoneApp.BINDINGS and wins F1 while its check_action allows it. A compose box
# takes "?" as a character first (a non-priority binding), so F1 opens help there.
KEYS = [Binding("question_mark,f1", "keys", "Keys", id="app.keys",
                tooltip="Every key of this screen, the phone and the app")]
KEYS_SCREEN = [Binding("escape,question_mark,q,f1", "close", "Close", id="keys.close",
                       tooltip="Close this help")]

# The demo stage: presenter controls, for the active phone (or all phones). Priority: they
# work whatever the phone in front shows (a chat's TextArea binds F6 and F7 itself).
STAGE = [
    Binding("f3", "next_phone", "Phone", id="stage.next_phone", priority=True,
            tooltip="Next phone: the keys go to it"),
    Binding("f4", "toggle_tap", "Tap", id="stage.pause_tap", priority=True,
            tooltip="Pause or resume the operator tap"),
    Binding("f5", "next_profile", "Profile", id="stage.next_profile", priority=True,
            tooltip="Every phone to the next link profile"),
    Binding("f6", "drop_signal", "Signal", id="stage.drop_signal", priority=True,
            tooltip="Drop this phone's signal, or give it back"),
    Binding("f7", "airplane", "Air", id="stage.airplane", priority=True,
            tooltip="Airplane mode on this phone, on or off"),
    Binding("f8", "inject", "Bot", id="stage.inject", priority=True,
            tooltip="A bot writes to this phone"),
    Binding("f9", "impersonate", "MITM", id="stage.impersonate", priority=True,
            tooltip="Man in the middle (on / off): the carrier steps between this phone and "
                    "the next, with its own keys"),
    # Not in the footer (no room at 100 columns): the help screen and the palette have it.
    Binding("f10", "call", "Call", id="stage.call", priority=True,
            tooltip="This phone calls the next phone (end-to-end encrypted)"),
    # Not in the footer either: the help screen and the palette have it.
    Binding("f11", "fake_cell", "Fake cell", id="stage.fake_cell", priority=True,
            tooltip="Fake base station (on / off) next to this phone: 2G, no cipher, asks for "
                    "the IMSI"),
    # Not in the footer either (it is full at 100 columns): the tap pane's state line says F12.
    Binding("f12", "tap_mode", "Intercept", id="stage.tap_mode", priority=True,
            tooltip="The tap pane: frames, or the carrier's lawful-intercept records (HI2/HI3)"),
    Binding("ctrl+r", "reset_stage", "Reset", id="stage.reset", priority=True,
            tooltip="Wipe and set up every demo phone again (asks first)"),
]
# On the stage the footer shows the presenter's keys (and help); the phone's own keys are in
# the help screen: a phone's keys and eight presenter keys do not fit one line. In this order
# (a chat's compose box binds F6 and F7 itself, which would put them first).
STAGE_FOOTER = (*(binding.id for binding in STAGE if binding.id not in (
    "stage.call", "stage.fake_cell", "stage.tap_mode")), "app.keys")

# The intercept records' list (the tap pane's other mode, F12).
INTERCEPT_VIEW = [Binding("x", "export", "Export", id="intercept.export",
                          tooltip="Write this session's intercept records as JSON lines to a "
                                  "new file in the stage folder")]

# One intercept record's details (Enter on a record of the intercept view).
INTERCEPT_DETAIL = [Binding("escape,enter,q", "close", "Close", id="intercept.detail_close",
                            tooltip="Close the record's details")]

# A scripted demo (phone-tui demo --script): presenter clickers send PageDown / PageUp.
# Space and Backspace only reach the script when the phone in front does not use them (a
# chat's compose box types spaces); PageDown / PageUp always do.
SCRIPT = [
    # The script panel says these keys itself.
    Binding("space", "script_next", "Next step", show=False, id="script.next",
            tooltip="Play the next step of the script"),
    Binding("backspace", "script_back", "Step back", show=False, id="script.back",
            tooltip="Go back one step of the script"),
    Binding("pagedown", "script_next", "Next step", show=False, priority=True,
            id="script.next_clicker",
            tooltip="Play the next step (a presenter clicker)"),
    Binding("pageup", "script_back", "Step back", show=False, priority=True,
            id="script.back_clicker",
            tooltip="Go back one step (a presenter clicker)"),
]

COACH = [Binding("f1", "hint", "Hint", id="coach.hint",
                 tooltip="Show the step's hint (costs 10 points)")]

BOOT = [Binding("space,enter,escape", "skip", "Skip", id="boot.skip",
                tooltip="Skip the boot sequence")]

OS_CARD = [Binding("enter", "choose", "Switch to it", id="switch.choose",
                   tooltip="Switch to this OS (asks first)")]

# The arrows move between the two cards only (focus_next would leave them for the phone).
SWITCH_CARDS = [
    Binding("up", "move_card(-1)", "Previous", show=False, id="switch.up",
            tooltip="The OS card above"),
    Binding("down", "move_card(1)", "Next", show=False, id="switch.down",
            tooltip="The OS card below"),
]

# Rows of buttons (setup's duress offer, a chat, contact info): the arrow keys move among the
# row's enabled buttons and stop at its ends.
BUTTON_ROW = [
    Binding("left", "move(-1)", "Previous", show=False, id="buttons.previous",
            tooltip="The button to the left in a row of buttons"),
    Binding("right", "move(1)", "Next", show=False, id="buttons.next",
            tooltip="The button to the right in a row of buttons"),
]

# The focused button of a dialog or a row (Button's own Enter is hidden from the footer).
ROW_BUTTON = [Binding("enter", "press", "Choose", id="buttons.choose",
                      tooltip="Choose the highlighted button")]

# Digits are bindings too, not an on_key handler: keys then reach the entry in the order they
# were typed, Enter included, however fast they come.
PIN_ENTRY = [
    Binding("enter", "submit", "OK", id="pin.submit",
            tooltip="Enter the PIN typed so far"),
    Binding("backspace", "delete", "Delete", id="pin.delete", tooltip="Delete a digit"),
    *(Binding(str(digit), f"digit('{digit}')", str(digit), show=False, id=f"pin.digit{digit}",
              tooltip="Type a digit") for digit in range(10)),
]

# The phone's lists (Settings, Messages, the choices): OptionList's keys without Home, which
# belongs to the phone. PageUp reaches the first entry.
PHONE_LIST = [
    Binding("up", "cursor_up", "Up", show=False, id="list.up",
            tooltip="The entry above"),
    Binding("down", "cursor_down", "Down", show=False, id="list.down",
            tooltip="The entry below"),
    Binding("pageup", "page_up", "Page up", show=False, id="list.page_up",
            tooltip="A page up (the first entry at the top)"),
    Binding("pagedown", "page_down", "Page down", show=False, id="list.page_down",
            tooltip="A page down"),
    Binding("end", "last", "Last", show=False, id="list.last",
            tooltip="The last entry"),
    Binding("enter", "select", "Select", show=False, id="list.select",
            tooltip="Open the highlighted entry"),
]

APP_GRID = [
    Binding("enter", "launch", "Open", id="home.open",
            tooltip="Open the highlighted app"),
    Binding("left", "move(-1, 0)", "Left", show=False, id="home.left",
            tooltip="The app on the left"),
    Binding("right", "move(1, 0)", "Right", show=False, id="home.right",
            tooltip="The app on the right"),
    Binding("up", "move(0, -1)", "Up", show=False, id="home.up",
            tooltip="The app above"),
    Binding("down", "move(0, 1)", "Down", show=False, id="home.down",
            tooltip="The app below"),
]

# A chat: not priority bindings (see ChatView). Oldest / Newest are in the help screen.
CHAT = [
    Binding("ctrl+s", "send", "Send", id="chat.send",
            tooltip="Send the message in the compose box"),
    Binding("ctrl+o", "info", "Info", id="chat.info", tooltip="Contact info"),
    Binding("ctrl+f", "search", "Search", id="chat.search", tooltip="Search this chat"),
    Binding("ctrl+g", "call", "Call", id="chat.call",
            tooltip="Call this contact (end-to-end encrypted), or back to the call with them"),
    Binding("ctrl+home", "top", "Oldest", show=False, id="chat.top",
            tooltip="Go to the oldest message"),
    Binding("ctrl+end", "bottom", "Newest", show=False, id="chat.bottom",
            tooltip="Go to the newest message"),
]

# A thread of the SMS app (Enter in the compose line sends too).
SMS = [
    Binding("ctrl+s", "send", "Send", id="sms.send",
            tooltip="Send the text as plain SMS (the carrier can read it)"),
]

# The Network app: its buttons offer the test burst (and the profile) too.
NETWORK = [
    Binding("p", "profiles", "Profile", id="network.profile", tooltip="Choose a link profile"),
    Binding("a", "airplane", "Airplane", id="network.airplane",
            tooltip="Airplane mode on or off"),
    Binding("t", "test", "Test burst", show=False, id="network.test",
            tooltip="Send a test burst and watch the figures"),
]

# The Phone app's list: the keypad is one key away.
PHONE_APP = [Binding("k", "keypad", "Keypad", id="phone.keypad",
                     tooltip="Dial a number on the keypad"),
             Binding("c", "carrier_call", "Carrier call", id="phone.carrier_call",
                     tooltip="Open OS: call the highlighted contact or number through the "
                             "carrier (not end-to-end encrypted: the carrier can listen)")]

# The keypad: digits, + and # are typed (bindings, so a burst keeps its order), Enter calls.
DIAL_PAD = [
    Binding("enter", "call", "Call", id="dial.call", tooltip="Call the number typed"),
    Binding("c", "carrier_call", "Carrier call", id="dial.carrier_call",
            tooltip="Open OS: call the number through the carrier (not end-to-end "
                    "encrypted: the carrier can listen)"),
    Binding("backspace", "delete", "Delete", id="dial.delete", tooltip="Delete a digit"),
    *(Binding(key, f"digit('{char}')", char, show=False, id=f"dial.digit{name}",
              tooltip="Type a digit") for key, char, name in
      [(str(digit), str(digit), str(digit)) for digit in range(10)]
      + [("plus", "+", "plus"), ("number_sign", "#", "hash"), ("space", " ", "space")]),
]

# A call coming in: answer or decline (the buttons say so too).
INCOMING = [
    Binding("a", "answer", "Answer", id="incoming.answer", tooltip="Answer the call"),
    Binding("d", "decline", "Decline", id="incoming.decline", tooltip="Decline the call"),
]

# The in-call screen.
CALL = [
    Binding("e", "hangup", "Hang up", id="call.hangup", tooltip="End the call"),
    Binding("m", "mute", "Mute", id="call.mute", tooltip="Mute or unmute your microphone"),
    Binding("s", "speaker", "Speaker", id="call.speaker", tooltip="Speaker on or off"),
    Binding("h", "hold", "Hold", id="call.hold", tooltip="Put the call on hold, or resume it"),
    Binding("y", "words(True)", "Match", show=False, id="call.words_match",
            tooltip="The words match what the other person read: mark the call verified"),
    Binding("n", "words(False)", "Differ", show=False, id="call.words_differ",
            tooltip="The words differ: someone is in the middle; the call ends"),
    Binding("i", "stats", "Stats", show=False, id="call.stats",
            tooltip="The call's figures: delay, jitter, loss, codec, quality"),
    Binding("u", "unlock", "Unlock", id="call.unlock",
            tooltip="Locked during the call: the PIN opens the rest of the phone"),
]

ALL = (APP + HANDSET + KEYS + KEYS_SCREEN + STAGE + SCRIPT + COACH + BOOT + OS_CARD + SWITCH_CARDS
       + BUTTON_ROW + ROW_BUTTON + PIN_ENTRY + PHONE_LIST + APP_GRID + CHAT + SMS + NETWORK
       + PHONE_APP + DIAL_PAD + INCOMING + CALL + INTERCEPT_VIEW + INTERCEPT_DETAIL)
BINDING_IDS = frozenset(binding.id for binding in ALL if binding.id)
