"""PhoneApp: one handset in a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Static

from phone_tui.core.config import Settings
from phone_tui.core.paths import Paths
from phone_tui.core.resources import themes_dir
from phone_tui.errors import ConfigError, PhoneTuiError, ThemeError
from phone_tui.handset.events import PersonaSwitched, Unlocked
from phone_tui.handset.handset import Handset, HandsetState
from phone_tui.ui import bindings
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.key_pacing import KeyPacing
from phone_tui.ui.keys_help import KeysHelp
from phone_tui.ui.themes import (
    DEFAULT_THEME,
    VARIABLE_DEFAULTS,
    ThemeCatalog,
    derived_variables,
    start_with_theme,
)
from phone_tui.ui.widgets.footer import PhoneFooter

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from phone_tui.handset.bots import Bot
    from phone_tui.handset.contacts import SeedContact
    from phone_tui.modem.network import Network
    from phone_tui.modem.profiles import LinkProfile

DETERMINISTIC_BANNER = "DETERMINISTIC — NOT SECURE"


def _handset_commands():  # noqa: ANN202 - loaded when the palette first opens
    from phone_tui.ui.commands import HandsetCommands

    return HandsetCommands


class PhoneApp(KeysHelp, KeyPacing, App[None]):
    """The handset app. Built by the CLI (or by tests) from a Handset and settings."""

    TITLE = "phone-tui"
    CSS_PATH = str(themes_dir() / "handset.tcss")
    # The coach's F1 (Hint) before the help screen's F1: it wins while there is a coach.
    BINDINGS = bindings.APP + bindings.COACH + bindings.KEYS
    COMMANDS = App.COMMANDS | {_handset_commands}
    # Each view focuses its own main control; auto-focus would first pick the phone frame and
    # restyle the screen twice before the first frame.
    AUTO_FOCUS = None

    def __init__(self, handset: Handset, *, paths: Paths, settings: Settings,
                 themes: ThemeCatalog, theme: str | None = None,
                 profiles: dict[str, LinkProfile] | None = None, network: Network | None = None,
                 when_ready: Callable[[], None] | None = None, side=None,  # noqa: ANN001
                 carrier_folder: Path | None = None) -> None:
        """``carrier_folder``: where the in-process carrier (built when ``network`` is None)
        and the bots keep their state across restarts; None keeps it in memory."""
        super().__init__()
        self.side = side  # a widget beside the phone (the training coach)
        self.handset = handset
        self.paths = paths
        handset.settings = settings
        self.catalog = themes
        self._theme_override = theme
        self._initial_theme = self.theme_for(handset.running)
        self._when_ready = when_ready
        self._profiles = profiles
        self._network = network
        self.carrier_folder = carrier_folder
        self.bots: list[Bot] = []
        if not handset.entropy.secure:
            self.animation_level = "none"
        for theme_obj in themes.themes.values():
            self.register_theme(theme_obj)
        if self._initial_theme in themes.themes:
            start_with_theme(self, self._initial_theme)

    @property
    def settings(self) -> Settings:
        """The handset's settings (it keeps them, and remembers changes in settings.toml)."""
        return self.handset.settings

    def theme_for(self, persona: str) -> str:
        """Each OS has its own theme (``--theme`` sets both for one run)."""
        if self._theme_override:
            return self._theme_override
        return self.settings.open_theme if persona == "open" else self.settings.theme

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hint":
            return self.side is not None and hasattr(self.side, "show_hint")
        if action == "next_theme":
            view = self.active_handset_view()
            return view is None or not view.handset.answering_locked  # as the palette
        return True

    def action_hint(self) -> None:
        if self.side is not None:
            self.side.show_hint()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **VARIABLE_DEFAULTS}

    def get_css_variables(self) -> dict[str, str]:
        self.theme_variables = derived_variables(super().get_css_variables())
        return self.theme_variables

    def compose(self) -> ComposeResult:
        if not self.handset.entropy.secure:
            yield Static(DETERMINISTIC_BANNER, id="deterministic-banner")
        if self.side is None:
            self._phone = HandsetView(self.handset, id="handset")
            yield self._phone
        else:
            from textual.containers import Horizontal, Vertical

            # The phone and the panel as one pair, centred across a wide terminal.
            with Horizontal(id="handsets") as pair:
                pair.styles.align_horizontal = "center"
                view = self._phone = HandsetView(self.handset, id="handset")
                view.styles.width = 46  # the phone keeps its size; the side panel takes the rest
                yield view
                # Centred in the same height as the frame is in the view: level with the phone.
                # No wider than the panel, so no empty column is left right of it.
                with Vertical(id="beside") as column:
                    column.styles.align_vertical = "middle"
                    column.styles.max_width = getattr(self.side, "MAX_WIDTH", None)
                    yield self.side
        yield PhoneFooter()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """In the phone's banner, under its status bar (a toast would cover the PIN pad).
        Plain text unless asked: they quote files and errors, whose brackets ("[keymap]", a
        key's name) are words, not markup to drop."""
        view = next(iter(self.query(HandsetView)), None)
        if view is None:  # not composed yet, or gone
            super().notify(message, title=title, severity=severity, timeout=timeout,
                           markup=markup)
            return
        view.notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def on_mount(self) -> None:
        for problem in self.catalog.problems:
            self.notify(f"{problem} — theme skipped.", title="Theme", severity="warning",
                        timeout=10)
        if self.theme != self._initial_theme:
            self.apply_theme(self._initial_theme, save=False)
        self.handset.events.listen(self._on_switched)
        unknown = sorted(set(self.settings.keymap) - bindings.BINDING_IDS)
        if unknown:
            self.notify(f"{self.paths.settings_file}: [keymap] has unknown binding ids: "
                        f"{', '.join(unknown)}", title="Keymap", severity="warning", timeout=10)
        keymap = {k: v for k, v in self.settings.keymap.items() if k not in unknown}
        if keymap:  # setting an empty keymap would only redraw the footer
            self.set_keymap(keymap)

    def on_ready(self) -> None:
        # Work that need not delay the first frame: the log file, and registering on the
        # network (a phone shows "Searching" while it boots too).
        if self._when_ready is not None:
            self._when_ready()
        self.attach_network()

    def attach_network(self) -> None:
        if self.handset.modem is not None:
            return
        from phone_tui.modem.bus import Bus
        from phone_tui.modem.profiles import load_profiles

        profiles = self._profiles if self._profiles is not None else load_profiles()
        if self.settings.link_profile not in profiles:
            problem = ConfigError(self.paths.settings_file, f"unknown link profile "
                                  f"{self.settings.link_profile!r} (known: {', '.join(profiles)})",
                                  key="link_profile")
            self.notify(f"{problem} — using lte.", title="Network", severity="warning",
                        timeout=10)
        network = self._network or Bus(self.handset.entropy.rng("network"),
                                       folder=self.carrier_folder)
        self._network = network
        self.handset.load_seed_contacts = self._load_seed_contacts  # at the first unlock
        self.handset.attach(network, profiles)
        if self.handset.state is HandsetState.UNLOCKED:
            self._start_bots()
        else:  # the bots (and the cryptography they load) wait for the first unlock
            self.handset.events.listen(self._unlocked_once)
        self.query_one(HandsetView).refresh_status()

    def _load_seed_contacts(self) -> list[SeedContact]:
        from phone_tui.handset.contacts import load_contacts

        try:
            return load_contacts()
        except ConfigError as problem:
            self.notify(f"{problem} — no seed contacts or bots.", title="Contacts",
                        severity="error", timeout=15)
            return []

    def _on_switched(self, event: object) -> None:
        if isinstance(event, PersonaSwitched):
            self.apply_theme(self.theme_for(event.persona), save=False)
            self.query_one(HandsetView).remember(persona=event.persona)  # boots it next time

    def _unlocked_once(self, event: object) -> None:
        if isinstance(event, Unlocked):
            self._start_bots()

    def _start_bots(self) -> None:
        if self.bots or self.handset.network is None:
            return
        from phone_tui.handset.bots import start_bots

        try:
            self.bots = start_bots(self.handset.seeds(), self.handset.network,
                                   self.handset.profiles["full"], self.handset.entropy,
                                   self.handset.clock, folder=self.carrier_folder,
                                   audio=self.handset.audio is not None)
        except PhoneTuiError as problem:
            self.notify(f"{problem} — no bots.", title="Bots", severity="error", timeout=15)

    def close_network(self) -> None:
        """phone-tui quits: the bots close their stores, the carrier keeps its mailbox."""
        for bot in self.bots:
            bot.close()
        self.bots = []
        from phone_tui.modem.bus import Bus

        if isinstance(self._network, Bus):
            self._network.close()

    def set_airplane(self, on: bool) -> None:
        self.query_one(HandsetView).set_airplane(on)

    def set_link_profile(self, name: str) -> None:
        self.query_one(HandsetView).set_link_profile(name)

    # ---- themes --------------------------------------------------------------------------------

    def phone_theme_names(self) -> list[str]:
        return sorted(self.catalog.themes)

    def apply_theme(self, name: str, *, save: bool) -> None:
        """Switch theme; an unknown one falls back to the default with a notification."""
        if name not in self.catalog.themes:
            problem = ThemeError(self.paths.settings_file, f"unknown theme {name!r} (known: "
                                 f"{', '.join(self.phone_theme_names())})", key="theme")
            self.notify(f"{problem} — using {DEFAULT_THEME}.", title="Theme", severity="warning",
                        timeout=10)
            name = DEFAULT_THEME
        self.theme = name
        if save:
            self._theme_override = None
            key = "open_theme" if self.handset.running == "open" else "theme"
            self.query_one(HandsetView).remember(**{key: name})

    def action_next_theme(self) -> None:
        names = self.phone_theme_names()
        index = names.index(self.theme) if self.theme in names else -1
        self.apply_theme(names[(index + 1) % len(names)], save=True)

    # ---- handsets ------------------------------------------------------------------------------

    def handset_views(self) -> Iterable[HandsetView]:
        return self.query(HandsetView)

    def active_handset_view(self) -> HandsetView | None:
        focused = self.focused
        for view in self.handset_views():
            if focused is not None and view in focused.ancestors_with_self:
                return view
        return next(iter(self.handset_views()), None)

    def keys_busy(self) -> bool:
        # The phone catching up with a key (a view opening, an unlock): the next waits.
        view = getattr(self, "_phone", None)  # looked up once: a query per key costs
        return bool(self.screen_stack) and view is not None and view.is_attached \
            and view.screen is self.screen and view.keys_busy

    async def on_event(self, event: events.Event) -> None:
        # Any key or click is activity for the phone it reaches: restart its idle timer.
        if isinstance(event, events.Key | events.MouseDown) and self.screen_stack:
            # (No screen: the app is closing, a key still in its queue.)
            view = self.active_handset_view()
            if view is not None:
                view.handset.touch()
        await super().on_event(event)
