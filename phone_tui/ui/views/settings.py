"""The Settings app of the running OS: about, radios, network, lock, theme, switch, wipe."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

import phone_tui
from phone_tui.errors import PhoneTuiError, PinPolicyError
from phone_tui.handset.device import RADIOS
from phone_tui.handset.handset import RADIO_NAMES
from phone_tui.handset.persona import AUTO_LOCK_CHOICES, WIPE_AFTER_CHOICES
from phone_tui.handset.pin_policy import check_pin
from phone_tui.ui.views.base import ChoiceView, PhoneView, format_duration
from phone_tui.ui.widgets.phone_list import PhoneList
from phone_tui.ui.widgets.pin_entry import PinEntry

# Groups, separated by a rule: the phone, the lock, how it looks, the other OS, the end.
ENTRIES = [
    [("about", "About this phone"), ("radios", "Radios"), ("network", "Link profile"),
     ("network_security", "Network security")],
    [("auto_lock", "Auto-lock"), ("lock_now", "Lock now"), ("change_pin", "Change PIN"),
     ("duress_pin", "Duress PIN"), ("wipe_after", "Wipe after wrong PINs")],
    [("theme", "Theme")],
    [("switch", "Switch OS…"), ("waiting_count", "Waiting count on OS cards"),
     ("call_codec", "Call codec")],
    [("wipe", "Wipe this persona…")],
]
ENTRY_IDS = [entry for group in ENTRIES for entry, _ in group]



class SettingsView(PhoneView):
    TITLE = "Settings"

    def __init__(self) -> None:
        super().__init__(id="settings")

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield PhoneList(*self._options(), id="settings-list")

    def _options(self) -> list[Option | None]:
        handset = self.handset
        modem = handset.modem
        wipe_after = handset.wipe_after
        details = {
            "theme": self.app.theme,
            "auto_lock": format_duration(handset.auto_lock_seconds),
            "network": modem.profile.label if modem else "",
            "wipe_after": str(wipe_after) if wipe_after else "never",
            "waiting_count": "shown" if handset.settings.show_waiting_count else "hidden",
            "call_codec": handset.call_codec,
        }
        options: list[Option | None] = []
        for group in ENTRIES:
            if options:
                options.append(None)
            for option_id, label in group:
                detail = details.get(option_id)
                text = f"{label}  [$text-muted]{detail}[/]" if detail else label
                options.append(Option(text, id=option_id))
        return options

    def on_mount(self) -> None:
        # Ctrl+T changes the theme from any view: the Theme row follows.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh_details())

    def on_return(self) -> None:
        self.refresh_details()

    def refresh_details(self) -> None:
        option_list = self.query_one(OptionList)
        highlighted = option_list.highlighted
        option_list.clear_options()
        option_list.add_options(self._options())
        option_list.highlighted = highlighted

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.open_entry(event.option.id or "")

    def open_entry(self, entry: str) -> None:
        view = self.handset_view
        if entry == "lock_now":
            self.handset.lock("user")
            return
        if entry == "switch":
            view.open_app("switch")
            return
        from phone_tui.ui.views.network import ProfileView
        from phone_tui.ui.views.network_security import NetworkSecurityView
        from phone_tui.ui.views.radios import RadiosView

        factories = {"about": AboutView, "change_pin": ChangePinView, "theme": ThemeView,
                     "auto_lock": AutoLockView, "radios": RadiosView, "network": ProfileView,
                     "duress_pin": DuressPinView, "wipe": WipeView, "wipe_after": WipeAfterView,
                     "waiting_count": WaitingCountView, "call_codec": CallCodecView,
                     "network_security": NetworkSecurityView}
        view.push(factories[entry]())


class AboutView(PhoneView):
    TITLE = "About this phone"
    DEFAULT_CSS = """
    AboutView #about-rows { height: auto; grid-size: 2; grid-columns: 11 1fr;
                            grid-rows: auto; }
    AboutView .about-name { text-style: bold; }
    """

    def __init__(self) -> None:
        super().__init__(id="about")

    def compose(self) -> ComposeResult:
        handset = self.handset
        info = handset.persona_info
        keystore = handset.persona.keystore
        kdf = keystore.header.params.describe() if keystore else "—"
        rows = [
            ("Model", handset.device.model),
            ("OS", f"{info.os_name} {info.os_version}"),
            ("Persona", handset.persona.name),
            ("Number", handset.number or "—"),
            ("Carrier", handset.device.carrier),
            ("Keystore", f"{kdf}, AES-256-GCM"),
            ("Store", "SQLCipher 4 (AES-256)"),
            ("Radios", "cellular" + "".join(
                f", {RADIO_NAMES[r]}" for r in RADIOS if handset.radio_present(r))
             + ("" if all(handset.radio_present(r) for r in RADIOS) else
                "; removed by policy: " + ", ".join(RADIO_NAMES[r] for r in RADIOS
                                                    if not handset.radio_present(r)))),
            ("phone-tui", phone_tui.__version__),
        ]
        if not handset.entropy.secure:
            rows.append(("Mode", "[b $text-error]DETERMINISTIC — NOT SECURE[/]"))
        yield self.title_label()
        with Grid(id="about-rows"):
            for name, value in rows:
                yield Static(name, classes="about-name")
                yield Static(value, classes="about-value")


class ChangePinView(PhoneView):
    """Current PIN → new PIN → new PIN again → the change. Subclasses change what is set."""

    TITLE = "Change PIN"
    DEFAULT_CSS = "ChangePinView .pin-warning { height: auto; margin-bottom: 1; }"
    PROMPTS = {"current": "Enter your current PIN", "new": "Choose a new PIN",
               "confirm": "Enter the new PIN again"}
    BUSY = "Re-wrapping the keystore…"
    DONE = "PIN changed."
    SAME = "The new PIN is the same as the current one."
    WARNING = ""

    def __init__(self, id: str = "change-pin") -> None:
        super().__init__(id=id)
        self.step = "current"
        self._current = self._new = ""
        self._checking = False
        self._ahead: list[str] = []  # PINs submitted while the current one was being checked

    def compose(self) -> ComposeResult:
        yield self.title_label()
        if self.WARNING:
            yield Static(self.WARNING, classes="pin-warning")
        yield PinEntry(self.PROMPTS["current"], id="change-pin-entry")

    def on_mount(self) -> None:
        self.query_one(PinEntry).focus()

    def _go(self, step: str, message: str = "") -> None:
        self.step = step
        entry = self.query_one(PinEntry)
        entry.set_prompt(self.PROMPTS[step])
        entry.set_message(message)

    @on(PinEntry.Submitted)
    def _submitted(self, event: PinEntry.Submitted) -> None:
        event.stop()
        if self._checking:
            # Typed ahead of the check (a fast typist, a paste): the new PIN's steps, taken
            # once the current PIN proves right and dropped if it does not.
            self._ahead.append(event.pin)
            return
        self._take(event.pin)

    def _take(self, pin: str) -> None:
        entry = self.query_one(PinEntry)
        if self.step == "saving":
            return  # the change is under way; the entry is about to be disabled
        if self.step == "current":
            self._current = pin
            if "new" in self.PROMPTS:
                self._checking = True
                self._check_current()
            else:
                self.step = "saving"
                self._apply()
        elif self.step == "new":
            try:
                check_pin(pin)
                if pin == self._current:
                    raise PinPolicyError(self.SAME)
            except PhoneTuiError as problem:
                entry.clear()
                entry.set_message(str(problem))
                return
            self._new = pin
            self._go("confirm")
        elif pin != self._new:
            self._new = ""
            self._go("new", "The PINs did not match. Start again.")
        else:
            self.step = "saving"
            self._apply()

    async def change(self, current: str, new: str) -> None:
        # The handset checks the current PIN again inside the same PIN operation as the
        # change: the check at the first step spares the user two entries after a wrong PIN,
        # and nothing typed between the two can slip through.
        await self.handset.change_pin(current, new)

    @work(exclusive=True, group="change-pin-check")
    async def _check_current(self) -> None:
        """Check the current PIN as soon as it is typed: a wrong one is refused at once (and
        counted, with what is left); only a right one leads to the new PIN."""
        entry = self.query_one(PinEntry)
        entry.start_busy("Checking the PIN…")
        try:
            await self.handset.verify_pin(self._current)
        except PhoneTuiError as problem:  # WrongPin and Throttled say what is left
            self._current = ""
            self._ahead.clear()
            if self.is_attached:
                entry.clear()
                self._go("current", str(problem))
        else:
            if self.is_attached:
                self._go("new")
        finally:
            self._checking = False
        ahead, self._ahead = self._ahead, []
        for pin in ahead:
            if self.is_attached and self.step not in ("current", "saving"):
                self._take(pin)

    @work(exclusive=True, group="change-pin")
    async def _apply(self) -> None:
        entry = self.query_one(PinEntry)
        entry.disabled = True
        entry.start_busy(self.BUSY)
        try:
            await self.change(self._current, self._new)
        except PhoneTuiError as problem:  # WrongPin and Throttled say what is left
            self._go("current", str(problem))
        else:
            self.notify(self.DONE, title="Settings")
            if self.is_attached and self.handset_view.top is self:
                self.handset_view.pop()
        finally:
            self._current = self._new = ""
            if self.is_attached:
                entry.disabled = False
                # Done, this view is popped (still attached while it goes): no focus back to
                # its entry, which would take the keys from the view now on top (Ctrl+L right
                # after a PIN change went to the removed entry).
                if self.handset_view.top is self:
                    self.focus_now(entry)


class DuressPinView(ChangePinView):
    """Set the duress PIN: typed at the lock screen, it wipes this persona silently."""

    TITLE = "Duress PIN"
    PROMPTS = {"current": "Enter your PIN", "new": "Choose a duress PIN",
               "confirm": "Enter the duress PIN again"}
    BUSY = "Saving…"
    DONE = "Duress PIN set."
    SAME = "The duress PIN must differ from your PIN."
    WARNING = ("Typed at the lock screen, a duress PIN wipes this persona without a word. "
               "It must differ from your PIN.")

    def __init__(self) -> None:
        super().__init__(id="duress-pin")

    async def change(self, current: str, new: str) -> None:
        await self.handset.set_duress_pin(current, new)


class WipeView(ChangePinView):
    """Wipe this persona: keys, messages and contacts, after the PIN."""

    TITLE = "Wipe this persona"
    PROMPTS = {"current": "Enter your PIN to wipe"}
    BUSY = "Wiping…"
    DONE = "Persona wiped."

    def __init__(self) -> None:
        super().__init__(id="wipe")

    @property
    def WARNING(self) -> str:  # type: ignore[override]  # noqa: N802 - names the OS
        info = self.handset.persona_info
        return (f"[b $text-error]This permanently deletes {info.os_name}'s keys, messages and "
                "contacts.[/] The other OS is not touched. There is no undo.")

    async def change(self, current: str, new: str) -> None:
        await self.handset.wipe_with_pin(current)


class ThemeView(ChoiceView):
    TITLE = "Theme"
    LIST_ID = "theme-list"

    def __init__(self) -> None:
        super().__init__(id="theme")

    def choices(self) -> list[tuple[str, str]]:
        return [(name, name) for name in self.app.phone_theme_names()]  # type: ignore[attr-defined]

    def current(self) -> str:
        return self.app.theme

    def choose(self, value: str) -> None:
        self.app.apply_theme(value, save=True)  # type: ignore[attr-defined]


class WipeAfterView(ChoiceView):
    """How many wrong PINs in a row wipe this OS (each OS has its own)."""

    TITLE = "Wipe after wrong PINs"
    LIST_ID = "wipe-after-list"

    def __init__(self) -> None:
        super().__init__(id="wipe-after")

    def choices(self) -> list[tuple[str, str]]:
        return [(str(n), f"after {n} wrong PINs" if n else "never")
                for n in WIPE_AFTER_CHOICES]

    def current(self) -> str:
        return str(self.handset.wipe_after)

    def choose(self, value: str) -> None:
        self.handset.set_wipe_after(int(value or 0))


class WaitingCountView(ChoiceView):
    """Whether the OS-switch screen shows how many messages wait for the other OS."""

    TITLE = "Waiting count on OS cards"
    LIST_ID = "waiting-count-list"

    def __init__(self) -> None:
        super().__init__(id="waiting-count")

    def choices(self) -> list[tuple[str, str]]:
        return [("shown", "shown (a count, never content)"), ("hidden", "hidden")]

    def current(self) -> str:
        return "shown" if self.handset.settings.show_waiting_count else "hidden"

    def choose(self, value: str) -> None:
        self.handset_view.remember(show_waiting_count=value == "shown")


class AutoLockView(ChoiceView):
    TITLE = "Auto-lock"
    LIST_ID = "auto-lock-list"

    def __init__(self) -> None:
        super().__init__(id="auto-lock")

    def choices(self) -> list[tuple[str, str]]:
        return [(str(seconds), format_duration(seconds)) for seconds in AUTO_LOCK_CHOICES]

    def current(self) -> str:
        return str(self.handset.auto_lock_seconds)

    def choose(self, value: str) -> None:
        self.handset.set_auto_lock(int(value or 0))


class CallCodecView(ChoiceView):
    """The codec this OS offers on the calls it makes (the callee codes with the same)."""

    TITLE = "Call codec"
    LIST_ID = "call-codec-list"

    def __init__(self) -> None:
        super().__init__(id="call-codec")

    def choices(self) -> list[tuple[str, str]]:
        from phone_tui.media.codecs import load_codecs

        return [(name, f"{name} · {profile.frame_bytes} B / 20 ms")
                for name, profile in load_codecs().items()]

    def current(self) -> str:
        return self.handset.call_codec

    def choose(self, value: str) -> None:
        from phone_tui.errors import PhoneTuiError

        try:
            self.handset.set_call_codec(value)
        except PhoneTuiError as problem:
            self.notify(str(problem), title="Call codec", severity="error")
