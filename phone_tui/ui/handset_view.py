"""HandsetView: one phone as one widget, with its own navigation stack of screen-widgets.

Being a widget (not a Textual Screen) is what lets a stage later show several phones side by
side. The view follows the model's events: Unlocked → Home, Locked → Lock, Wiped → Setup.
"""

from __future__ import annotations

import weakref
from dataclasses import replace

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from phone_tui.core.clock import wall_time
from phone_tui.handset.events import (
    Event,
    Locked,
    PersonaSwitched,
    SetupCompleted,
    Unlocked,
    ViewShown,
    Wiped,
)
from phone_tui.handset.handset import Handset, HandsetState
from phone_tui.ui import bindings
from phone_tui.ui.notices import Notice, NoticeBoard, notice_for_event
from phone_tui.ui.views.base import PhoneView
from phone_tui.ui.widgets.call_banner import CallBanner
from phone_tui.ui.widgets.notice_banner import NoticeBanner
from phone_tui.ui.widgets.status_bar import StatusBar, StatusInfo, network_label

# Views are imported where first needed: only the lock screen is on the start-up path.

# The phone frame, border included: 44 × 34 cells is about 400 × 650 pixels in a common
# terminal font, a phone's proportions. A taller terminal gets the room outside the frame (it
# stays centred); a shorter one shrinks it down to MIN_HEIGHT, below which the view says what
# size it needs.
FRAME_WIDTH = 44
FRAME_HEIGHT = 34
MIN_HEIGHT = 30
# Where a banner sits on the lock screen: under the status bar (2), the clock (1 + 3) and the
# date (2 + 1), in the rows the lock screen keeps for notifications.
LOCK_BANNER_TOP = 9
# The frame's height, centred in the view: whatever sits level with the phone (the training
# coach) takes the same rule, centred in the same height.
FRAME_HEIGHT_CSS = f"height: {FRAME_HEIGHT}; max-height: 100%;"


NULL_CIPHER_GLYPH = "\u26a0"  # a warning sign after the RAT: this cell ciphers nothing


def _app_view(app_id: str) -> PhoneView:
    if app_id == "settings":
        from phone_tui.ui.views.settings import SettingsView

        return SettingsView()
    if app_id == "messages":
        from phone_tui.ui.views.messages import MessagesView

        return MessagesView()
    if app_id in ("camera", "maps"):
        from phone_tui.ui.views.radios import CameraView, MapsView

        return CameraView() if app_id == "camera" else MapsView()
    if app_id == "switch":
        from phone_tui.ui.views.switch import SwitchView

        return SwitchView()
    if app_id == "network":
        from phone_tui.ui.views.network import NetworkView

        return NetworkView()
    if app_id == "phone":
        from phone_tui.ui.views.phone import PhoneAppView

        return PhoneAppView()
    if app_id == "sms":
        from phone_tui.ui.views.sms import SmsView

        return SmsView()
    raise KeyError(app_id)


# The views of a call, popped when it ends.
CALL_VIEWS = ("incoming", "call", "call-stats", "call-unlock")


RADIO_ICONS = {"wifi": "Wi-Fi", "bluetooth": "BT", "gps": "GPS", "camera": "CAM"}
KEEPALIVE_SECONDS = 5
MAINTENANCE_SECONDS = 5
BOOT_SECONDS = 3.0  # the boot sequence after an OS switch (0 when deterministic)


WIPE_NOTICES = {
    "failures": "This persona was wiped after too many wrong PINs.",
    "user": "This persona was wiped.",
    "duress": None,  # silent on purpose
}


LOCK_CONFIRM_SECONDS = 5.0  # during a call, the second Ctrl+L within this locks
MAX_HELD_KEYS = 256  # a burst longer than this, typed before a view took the focus, is cut


class HandsetView(Vertical, can_focus=True):
    """A phone frame: status bar on top, the top view of the stack below."""

    BINDINGS = bindings.HANDSET

    DEFAULT_CSS = f"""
    HandsetView {{ width: 1fr; height: 1fr; align: center middle; }}
    HandsetView #frame {{ width: {FRAME_WIDTH}; {FRAME_HEIGHT_CSS}
                          border: round $primary; background: $surface; }}
    HandsetView.persona-secure #frame {{ border: round $persona-secure; }}
    HandsetView.persona-open #frame {{ border: round $persona-open; }}
    HandsetView #frame > PhoneView {{ height: 1fr; }}
    HandsetView #too-small {{ width: 100%; height: 100%;
                              content-align: center middle; text-align: center;
                              color: $text-warning; }}
    HandsetView.-too-small #frame {{ display: none; }}
    HandsetView #frame {{ layers: default notices; }}
    HandsetView.-on-lock NoticeBanner {{ margin-top: {LOCK_BANNER_TOP}; }}
    HandsetView #call-banner {{ height: 1; width: 100%; display: none; padding: 0 1;
                               background: $success 30%; color: $text; text-style: bold; }}
    HandsetView.-call-banner #call-banner {{ display: block; }}
    """

    def __init__(self, handset: Handset, *, id: str | None = None) -> None:
        super().__init__(id=id, classes=f"persona-{handset.persona.name}")
        self.handset = handset
        self._stack: list[PhoneView] = []
        self._ticks = 0
        self.boot_seconds = BOOT_SECONDS if handset.entropy.secure else 0.0
        # A call's live figures (delay, jitter, loss, quality) follow the machine's timing:
        # deterministic runs leave them out, so their screens are the same every time.
        self.live_figures = handset.entropy.secure
        self._lock_confirmed_until = 0.0  # a second Ctrl+L before this locks during a call
        self.booting = False
        self._reset_pending = False
        self._reset_notice: str | None = None
        # Views on their way out, with the removal to wait for: one with the id of a view
        # about to be mounted must be gone first.
        self._leaving: weakref.WeakKeyDictionary[PhoneView, object] = \
            weakref.WeakKeyDictionary()
        self.notices = NoticeBoard()  # the banner's and the shade's notifications
        # Messages kept while locked, since the last unlock: what the spool already holds
        # (they came before a restart) and one more for each MessageWaiting.
        self._waiting = self._spooled() if handset.state is HandsetState.LOCKED else 0
        self._guarded_messages = 0  # messages read in while the phone was open for a call only
        self._shown_version: int | None = None  # the board's version the banner shows
        self._unlisten = handset.events.listen(self._on_model_event)
        # Kept, not looked up: the status is refreshed every second and after every event.
        self._status_bar = StatusBar(id="status")
        # A view pushed and not yet focused (it takes the keyboard a refresh later), and the
        # keys typed meanwhile: held here, in order, and handed to it once it has the focus.
        self._awaiting: PhoneView | None = None
        self._focus_before_small: Widget | None = None  # had the keys when it got too small
        self._held_keys: list[events.Key] = []

    class _ViewReady(Message):
        """In this widget's own queue, behind every key forwarded to it before: the view may
        take the focus now."""

        def __init__(self, view: PhoneView) -> None:
            super().__init__()
            self.view = view

    def compose(self) -> ComposeResult:
        first = self._view_for_state()
        self._stack = [first]
        # Now, not at the first notice: a class added after the first frame restyles the
        # whole phone (about 10 ms of the start-up's idle time, benchmarks/startup.py).
        self.set_class(first.id == "lock", "-on-lock")
        with Container(id="frame"):
            yield self._status_bar
            yield CallBanner(id="call-banner")
            yield NoticeBanner(id="notice-banner")
            yield first

    def on_mount(self) -> None:
        frame = self.query_one("#frame")
        frame.border_title = self.handset.device.model
        self.refresh_status()
        self._show_notices()
        # Kept: a test that ticks by hand pauses it (a second tick on a loaded machine would
        # land between its own and what it reads).
        self.ticker = self.set_interval(1.0, self.tick)

    def on_unmount(self) -> None:
        self._unlisten()

    def on_resize(self) -> None:
        width, height = self.size
        small = width < FRAME_WIDTH or height < MIN_HEIGHT
        if self.has_class("-too-small") and not small:
            # Hidden, the phone lost the keyboard: the widget that had it takes it back once
            # shown (or the view's default, if that one went meanwhile).
            self.call_after_refresh(self._refocus_after_small)
        elif small and not self.has_class("-too-small"):
            focused = self.screen.focused if self.is_attached else None
            self._focus_before_small = focused if focused is not None \
                and self in focused.ancestors else None
        self.set_class(small, "-too-small")
        notice = self.query("#too-small")
        if not small:
            notice.remove()
            return
        # Say it in terminal cells: what the banner and footer take comes on top.
        screen_width, screen_height = self.app.size
        need = (FRAME_WIDTH + screen_width - width, MIN_HEIGHT + screen_height - height)
        text = f"Terminal too small\nneed {need[0]}×{need[1]}, have {screen_width}×{screen_height}"
        if notice:
            notice.first(Static).update(text)
        else:
            self.mount(Static(text, id="too-small"))

    # ---- the navigation stack ------------------------------------------------------------------

    @property
    def top(self) -> PhoneView | None:
        return self._stack[-1] if self._stack else None

    def push(self, view: PhoneView) -> None:
        """Show ``view`` on top. A view already in the stack is returned to, not stacked twice.
        While the keys are open only for a call answered on the lock screen, only that call's
        views come up: the rest of the phone stays locked."""
        if self.handset.answering_locked and view.id not in CALL_VIEWS:
            if self.top is not None:
                self._focus_view(self.top)  # a click that asked for it took the focus away
            return
        for index, existing in enumerate(self._stack):
            if view.id is not None and existing.id == view.id:
                while len(self._stack) > index + 1:
                    self.pop()
                return
        # Keys typed before the new view takes focus must not reach the one it covers: they
        # wait here for it (on_key).
        self._hold_keys_for(view)
        if self.top is not None:
            self.top.display = False
        self._stack.append(view)
        self._mount_when_free(view)
        self.refresh_bindings()
        self._show_notices()
        self._announce(view)

    def _mount_when_free(self, view: PhoneView) -> None:
        """Mount ``view``, after the removal of one with its id that is still on its way out
        (Back then the same view again, in one burst of keys)."""
        frame = self.query_one("#frame")
        removals = [removal for widget in frame.children
                    if widget.id == view.id and widget is not view
                    and (removal := self._leaving.get(widget)) is not None]
        if not removals:
            frame.mount(view)
            self._focus_when_ready(view)
            return

        async def mount_when_removed() -> None:
            for removal in removals:
                await removal  # type: ignore[misc]
            if view in self._stack and not view.is_mounted:
                await frame.mount(view)
                self._focus_when_ready(view)

        self.call_later(mount_when_removed)

    def pop(self) -> None:
        if len(self._stack) <= 1:
            return
        leaving = self._stack.pop()
        self._leaving[leaving] = leaving.remove()
        top = self.top
        if top is not None:
            top.display = True
            top.on_return()
            self._focus_view(top)
            if self._awaiting is leaving:  # gone before it took the keys: they are top's
                self._release_held_keys(top)
            self._announce(top)
        self.refresh_bindings()
        self._show_notices()

    def reset_to(self, view: PhoneView) -> None:
        frame = self.query_one("#frame")
        self._hold_keys_for(view)
        old, self._stack = self._stack, [view]
        leaving = [widget for widget in old if widget.parent is frame]
        removal = frame.remove_children(leaving)
        for widget in leaving:
            self._leaving[widget] = removal
        # Lock screen to lock screen (an OS switch), or to one still being removed after an
        # earlier reset (a stage reset changes views in bursts): the old one must be gone
        # before a widget with its id can be mounted.
        clashing = [widget for widget in (*old, *frame.children)
                    if widget.id == view.id and widget is not view]
        if clashing:
            for widget in old:
                widget.display = False
            removals = {id(r): r for w in clashing if (r := self._leaving.get(w)) is not None}

            async def mount_when_removed() -> None:
                await removal
                for pending in removals.values():
                    await pending  # type: ignore[misc]
                if view in self._stack and not view.is_mounted:
                    await frame.mount(view)
                    self._focus_when_ready(view)

            self.call_later(mount_when_removed)
        else:
            frame.mount(view)
            self._focus_when_ready(view)
        self.refresh_status()
        self.refresh_bindings()
        self._show_notices()
        self._announce(view)

    def _announce(self, view: PhoneView) -> None:
        """Tell the model what the phone shows now (a ViewShown event): the coach and flows
        follow the trainee through events, never through these widgets."""
        self.handset.shown(*view.shown_as)

    def _hold_keys_for(self, view: PhoneView) -> None:
        """Until ``view`` has the focus, this phone has it: keys typed meanwhile wait here (a
        burst such as F2, Down, Enter), not at the screen, which would drop them, nor at
        another phone of the stage, where the focus could move as the old view goes."""
        self._awaiting = view
        if self.is_attached:
            self.screen.set_focus(self, scroll_visible=False)  # now: Widget.focus() waits

    def _focus_when_ready(self, view: PhoneView) -> None:
        self.call_after_refresh(self.post_message, HandsetView._ViewReady(view))

    async def on_key(self, event: events.Key) -> None:
        if getattr(event, "replayed", False):
            return  # one this phone handed on: on its way up to the app's bindings
        if self._awaiting is None:
            # This phone's own keys (F2, Home, Back...) act as they pass, on their way up:
            # Textual runs a binding once the key has bubbled to the app, by when the keys
            # after it in a burst were handed to the view this one is about to cover.
            active = self.screen.active_bindings.get(event.key)
            if active is not None and active.node is self and active.enabled:
                event.stop()
                event.prevent_default()
                await self.run_action(active.binding.action)
            return
        focused = self.screen.focused
        if focused is self:
            if len(self._held_keys) < MAX_HELD_KEYS:
                self._held_keys.append(self._copy_key(event))
        elif focused is not None and self in focused.ancestors:
            # Forwarded here before the view took the focus, handled after: on to it.
            focused._forward_event(self._copy_key(event))
        else:
            return
        event.stop()
        event.prevent_default()

    def _copy_key(self, event: events.Key) -> events.Key:
        """The key again, as the app hands it on: from the app (a message bubbles until its
        sender; one sent from here would stop below this widget, short of the app's bindings)."""
        key = events.Key(event.key, event.character)
        key._sender = self.app
        key.replayed = True  # type: ignore[attr-defined]
        return key

    def _on_handset_view__view_ready(self, message: HandsetView._ViewReady) -> None:
        view = message.view
        if view is self._awaiting and view.is_attached and not view.is_mounted:
            # The screen caught up before the view finished mounting (its children compose in
            # their own queues): its controls cannot take the focus yet. Again, from the
            # view's own queue, whose messages it handles once mounted.
            if not view.call_later(self.post_message, HandsetView._ViewReady(view)):
                self._focus_when_ready(view)
            return
        self._focus_view(view)
        if view is not self._awaiting:
            return  # replaced or covered meanwhile: the newest view gets the keys
        self._release_held_keys(view)

    @property
    def keys_busy(self) -> bool:
        """Still catching up with a key: a view pushed and not yet focused, a reset to the
        view for a new state pending, or the view on top busy with one (an unlock). The app
        holds the keys typed meanwhile (KeyPacing) until ``_keys_may_go``."""
        top = self.top
        return self._awaiting is not None or self._reset_pending \
            or (top is not None and top.keeps_keys)

    def _keys_may_go(self) -> None:
        may_go = getattr(self.app, "keys_may_go", None)
        if may_go is not None and not self.keys_busy:
            may_go()

    def _release_held_keys(self, view: PhoneView) -> None:
        """The keys held for the view now on top go to it (its focused widget), in order."""
        self._awaiting = None
        held, self._held_keys = self._held_keys, []
        focused = self.screen.focused
        target = focused if focused is not None and view in (focused, *focused.ancestors) \
            else view
        for key in held:
            target._forward_event(key)
        self._keys_may_go()

    def _focus_view(self, view: PhoneView) -> None:
        """Give ``view`` the keyboard, unless it was replaced or covered in the meantime (a
        burst of events can swap a view out before its children are mounted; Home then an
        app queues both views' turns, and the covered one must not take the keys back)."""
        import contextlib

        from textual.css.query import NoMatches

        if view.is_attached and view is self.top:
            with contextlib.suppress(NoMatches):
                view.focus_default()

    def _refocus_after_small(self) -> None:
        before, self._focus_before_small = self._focus_before_small, None
        active = getattr(self.app, "active_handset_view", None)
        top = self.top
        if top is None or self._awaiting is not None or (active is not None
                                                         and active() is not self):
            return
        if before is not None and before.is_attached and top in before.ancestors \
                and before.focusable:
            self.screen.set_focus(before)
        else:
            self._focus_view(top)

    def _view_for_state(self, notice: str | None = None) -> PhoneView:
        state = self.handset.state
        if state is HandsetState.SETUP:
            from phone_tui.ui.views.setup import SetupView

            return SetupView(notice)
        if state is HandsetState.LOCKED:
            from phone_tui.ui.views.lock import LockView

            return LockView()
        from phone_tui.ui.views.home import HomeView

        return HomeView()

    def _reset_for_state(self, notice: str | None = None) -> None:
        """Show the view for the handset's state. A burst of events (a stage reset wipes, sets
        up and locks in a row) makes one change, to the state they leave."""
        if notice is not None:
            self._reset_notice = notice
        if not self._reset_pending:
            self._reset_pending = True
            self.call_after_refresh(self._run_reset)

    def _run_reset(self) -> None:
        self._reset_pending = False
        notice, self._reset_notice = self._reset_notice, None
        if self.is_attached:
            self.reset_to(self._view_for_state(notice))

    def open_app(self, app_id: str) -> None:
        self.push(_app_view(app_id))

    # ---- model events --------------------------------------------------------------------------

    def _on_model_event(self, event: Event) -> None:
        if isinstance(event, ViewShown):
            return  # this view's own report
        self._notice_event(event)
        if type(event).__name__ == "CallStateChanged":
            self._on_call_state(event)
        elif type(event).__name__ == "Guarded":
            self._guard_to_call()
        elif type(event).__name__ == "GuardLifted":
            self._open_after_guard()
        elif isinstance(event, Unlocked) and self.handset.answering_locked:
            # Unlocked to answer a call: the call stays on screen; the phone locks again
            # when it ends (its keys were opened for the call only).
            pass
        elif isinstance(event, PersonaSwitched):
            self.set_class(False, f"persona-{event.previous}")
            self.set_class(True, f"persona-{event.persona}")
            if not self.booting:
                self._reset_for_state()
        elif isinstance(event, Unlocked | Locked):
            # A switch's Locked is followed by PersonaSwitched; during the boot sequence the
            # BootView hands over to the lock screen itself.
            if not self.booting and not (isinstance(event, Locked) and event.reason == "switch"):
                self._reset_for_state()
        elif isinstance(event, Wiped):
            self._reset_for_state(WIPE_NOTICES.get(event.reason))
        elif isinstance(event, SetupCompleted):
            pass  # an Unlocked event follows
        else:
            top = self.top
            if top is not None and top.is_mounted:
                top.on_model_event(event)
        self.refresh_status()

    # ---- time ----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Once a second: auto-lock, keep-alive, status bar, the top view's live parts."""
        self.handset.check_idle()
        self._ticks += 1
        if self.handset.modem is not None and self._ticks % KEEPALIVE_SECONDS == 0:
            self.handset.modem.ping()
        # Before the redraw below: a notice that quotes a message that disappears goes too.
        self.notices.expire(self.handset.clock.now())
        messenger = self.handset.messenger
        if messenger is not None:
            # Disappearing messages go on the second their timer ends (a 30 s timer must not
            # leave them for a maintenance period more); the rest of the upkeep is less often.
            expired = (messenger.maintain() if self._ticks % MAINTENANCE_SECONDS == 0
                       else messenger.expire(due_only=True))
            if expired and self.top is not None:
                self.top.on_return()  # messages disappeared: redraw
        self.refresh_status()
        self._show_notices()
        top = self.top
        if top is not None and top.is_mounted and top.is_attached:
            top.tick()

    def refresh_status(self) -> None:
        handset = self.handset
        info = handset.persona_info
        modem = handset.modem
        if modem is None:
            bars, network = 0, "Searching"
        else:
            registration = "airplane" if modem.airplane else modem.registration
            camped = handset.camped
            # The camped cell's RAT, and a warning sign on a cell that ciphers nothing.
            # A presenter's link profile (GPRS, 3G...) stands for the radio the phone is on:
            # its type shows unless the link is the camped cell's own.
            rat = modem.profile.network_type
            if camped is not None and modem.in_service:
                if modem.profile.name == camped.profile:
                    rat = camped.label
                rat += NULL_CIPHER_GLYPH if camped.null_cipher else ""
            bars, network = modem.bars, network_label(registration, rat)
        self._status_bar.show(StatusInfo(
            carrier=handset.device.carrier,
            signal_bars=bars,
            network_type=network,
            clock=wall_time(handset.clock).strftime("%H:%M"),
            battery_percent=handset.battery_percent(),
            persona=handset.persona.name,
            persona_label=info.os_name,
            # Open for a call only (answered on the lock screen, guarded): locked to the eye.
            locked=handset.state is not HandsetState.UNLOCKED or handset.answering_locked,
            radios=tuple(RADIO_ICONS[radio] for radio in RADIO_ICONS if handset.radio_on(radio)),
            airplane=modem is not None and modem.airplane,
        ))

    # ---- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what makes no sense now: Lock and Home while locked, Back on a root view."""
        if self.booting:
            return action == "skip"
        if action == "to_call":
            return self.handset.locked_call is not None or (
                self.handset.calls is not None and self.handset.calls.current is not None)
        if action == "switch_os" and self.handset.state is HandsetState.UNLOCKED \
                and self.handset.answering_locked:
            return False  # open for a call only: the call is all there is
        if action in ("lock", "home"):
            if self.handset.state is HandsetState.UNLOCKED and self.handset.answering_locked:
                return False  # opened for a call only: the call screen is all there is
            return self.handset.state is HandsetState.UNLOCKED
        if action == "back":
            return self.top is not None and self.top.BACK
        return True

    def action_lock(self) -> None:
        """Lock now. During a call, the first press says that locking ends it (the call's
        keys leave memory with the rest) and the second, within a few seconds, locks."""
        import time as _time

        from phone_tui.ui.views.call import current_call

        info = current_call(self.handset)
        if info is not None and info.state != "ended" and info.call_id and \
                _time.monotonic() > self._lock_confirmed_until:
            self._lock_confirmed_until = _time.monotonic() + LOCK_CONFIRM_SECONDS
            self.notify("Locking ends the call: its keys leave memory with the rest. Press "
                        "Ctrl+L again to lock.", title="Lock", severity="warning")
            return
        self._lock_confirmed_until = 0.0
        self.handset.lock("user")

    def action_home(self) -> None:
        """Back to the home screen: the bottom of the stack while unlocked."""
        if self.handset.state is HandsetState.UNLOCKED:
            while len(self._stack) > 1:
                self.pop()

    def action_back(self) -> None:
        if self.top is not None and self.top.BACK:
            self.pop()

    # ---- choices that are remembered (in this phone's settings.toml) ---------------------------

    def remember(self, **changes: object) -> None:
        from phone_tui.errors import PhoneTuiError

        try:
            self.handset.remember(**changes)
        except PhoneTuiError as problem:
            self.notify(f"{problem} — not saved.", title="Settings", severity="error",
                        timeout=10)

    def set_airplane(self, on: bool) -> None:
        self.handset.set_airplane(on)
        self.remember(airplane=on)

    def set_link_profile(self, name: str) -> None:
        self.handset.set_link_profile(name)
        self.remember(link_profile=name)

    # ---- switching OS --------------------------------------------------------------------------

    def action_switch_os(self) -> None:
        """Show both OSes (from any screen, the lock screen included)."""
        if not self.booting:
            self.open_app("switch")

    def switch_os(self, target: str) -> None:
        """Confirmed: the model locks the running OS and runs ``target``; show it booting. While
        an unlock or a PIN change runs the model refuses: say so and go back to it."""
        from phone_tui.errors import HandsetBusy

        self.booting = True  # before the model's PersonaSwitched event arrives
        try:
            self.handset.switch_persona(target)
        except HandsetBusy as busy:
            self.booting = False
            self.notify(str(busy), title="Switch OS", severity="warning")
            # Back to the view whose PIN work is running (the switch views sit on top of it).
            while len(self._stack) > 1 and self.top is not None \
                    and self.top.id in ("switch", "switch-confirm"):
                self.pop()
            return
        # Booted next time too, on a stage phone as on a single one (the stage app has no
        # PersonaSwitched handler of its own that would remember it).
        self.remember(persona=target)
        if self.boot_seconds > 0:
            from phone_tui.ui.views.switch import BootView

            self.reset_to(BootView(target, self.boot_seconds))
        else:
            self.boot_finished()

    def boot_finished(self) -> None:
        self.booting = False
        self._reset_for_state()

    # ---- calls: the incoming call and the in-call screen over any view, the banner -----------

    def _call_views(self) -> list[PhoneView]:
        return [view for view in self._stack if view.id in CALL_VIEWS]

    def _on_call_state(self, event: Event) -> None:
        """A call's state changed: ringing puts the incoming call on top of whatever shows
        (the lock screen included); dialing and answering put the in-call screen there; the
        end takes the call's views away and says why."""
        from phone_tui.ui.views.call import InCallView, IncomingCallView, reason_text

        state, call_id = event.state, event.call_id  # type: ignore[attr-defined]
        incoming = event.direction == "incoming"  # type: ignore[attr-defined]
        top = self.top
        if state == "ended":
            self._pop_call_views()
            messenger = self.handset.messenger
            number = event.number  # type: ignore[attr-defined]
            contact = messenger.contact(number) if messenger is not None else None
            reason = event.reason  # type: ignore[attr-defined]
            if reason != "hung_up":
                self.notify(reason_text(reason, contact.name if contact else number,
                                        event.direction),  # type: ignore[attr-defined]
                            title="Call", timeout=6)
        elif state == "ringing" and incoming:
            if not any(view.id == "incoming" for view in self._stack):
                self.push(IncomingCallView(call_id))
        elif (state in ("dialing", "connecting", "connected")
              and not any(getattr(view, "call_id", None) == call_id and view.id == "call"
                          for view in self._stack)):
            if top is not None and top.id == "incoming":
                self.pop()
            self.push(InCallView(call_id))
        elif top is not None and top.is_mounted:
            top.on_model_event(event)
        self._show_notices()

    def _guard_to_call(self) -> None:
        """The auto-lock came during a call: every view but the call's goes (the rest of the
        phone is locked) and the call takes the screen."""
        from phone_tui.ui.views.call import InCallView, IncomingCallView, current_call

        info = current_call(self.handset)
        if info is None or info.state == "ended":
            return
        calls = [view for view in self._stack if view.id in ("call", "incoming")]
        if calls:
            self._keep_only(calls[-1])
        elif info.direction == "incoming" and info.state == "ringing":
            self.reset_to(IncomingCallView(info.call_id))
        else:
            self.reset_to(InCallView(info.call_id))

    def push_call_unlock(self) -> None:
        """The PIN entry that opens the rest of the phone during a call it is closed for."""
        from phone_tui.ui.views.call import CallUnlockView

        if self.handset.answering_locked and self.handset.state is HandsetState.UNLOCKED:
            self.push(CallUnlockView())

    def _open_after_guard(self) -> None:
        """The PIN opened the phone during the call: Home under the call's screen again."""
        keep = next((view for view in reversed(self._stack) if view.id == "call"), None)
        if keep is None:
            self.reset_to(self._view_for_state(None))
            return
        # The call's own view stays (a new one could not mount while it leaves); Home goes
        # under it, where Escape finds it.
        self._keep_only(keep, under=self._view_for_state(None))

    def _keep_only(self, keep: PhoneView, under: PhoneView | None = None) -> None:
        """Every view but ``keep`` goes; ``under`` (new) is mounted beneath it."""
        leaving = [view for view in self._stack if view is not keep]
        self._stack = [keep] if under is None else [under, keep]
        for view in leaving:
            if self._awaiting is view:
                self._release_held_keys(keep)
            self._leaving[view] = view.remove()
        if under is not None:
            under.display = False
            self.query_one("#frame").mount(under, before=keep)
        keep.display = True
        keep.on_return()
        self._focus_view(keep)
        self._announce(keep)
        self.refresh_bindings()
        self._show_notices()

    def _pop_call_views(self) -> None:
        while len(self._stack) > 1 and self.top is not None and self.top.id in CALL_VIEWS:
            self.pop()
        # One left under a view opened from the banner's call (a chat over the call screen).
        for view in self._call_views():
            if view is not self._stack[0]:
                self._stack.remove(view)
                self._leaving[view] = view.remove()

    def _show_call_banner(self) -> None:
        if not self.is_mounted:
            return
        from phone_tui.ui.views.call import current_call

        info = current_call(self.handset)
        # The PIN entry over a call (call-unlock) shows the banner: the call goes on under it.
        show = info is not None and info.state != "ended" and (
            self.top is None or self.top.id not in ("incoming", "call", "call-stats"))
        self.set_class(show, "-call-banner")
        if show and info is not None:
            self.query_one(CallBanner).show(info, self.handset.clock.now())

    def action_to_call(self) -> None:
        """Back to the call in progress (the banner's key)."""
        from phone_tui.ui.views.call import InCallView, IncomingCallView, current_call

        info = current_call(self.handset)
        if info is None or info.state == "ended":
            return
        for index, view in enumerate(self._stack):
            if view.id in ("call", "incoming"):
                while len(self._stack) > index + 1:
                    self.pop()
                return
        if info.direction == "incoming" and info.state == "ringing":
            self.push(IncomingCallView(info.call_id))
        else:
            self.push(InCallView(info.call_id))

    @on(CallBanner.Pressed)
    def _call_banner_pressed(self, event: CallBanner.Pressed) -> None:
        event.stop()
        self.action_to_call()

    def answer_locked(self, pin: str, entry: object) -> None:
        """Answer a call that rang while locked: the PIN opens the keys for the call only."""
        self.run_worker(self._answer_locked(pin, entry), group="answer", exclusive=True)

    async def _answer_locked(self, pin: str, entry: object) -> None:
        from phone_tui.errors import PhoneTuiError

        try:
            await self.handset.answer_locked(pin)
        except PhoneTuiError as problem:
            show = getattr(entry, "set_message", None)
            if show is not None and getattr(entry, "is_attached", False):
                show(str(problem).split(" Try again")[0])  # under the PIN pad, as at a lock
            else:
                self.notify(str(problem), title="Call", severity="warning")

    # ---- notifications: the banner under the status bar, the shade -----------------------------

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Show a notification in this phone's banner (not a toast over the terminal: on a
        stage it must land in this phone). Plain text unless asked: messages quote files and
        keys whose brackets are words."""
        self.post_notice(Notice(title, str(message), severity=severity,
                                timeout=timeout or 0.0, markup=markup))

    def post_notice(self, notice: Notice) -> None:
        notice = replace(notice, unlocked=self.handset.state is HandsetState.UNLOCKED)
        self.notices.post(notice, self.handset.clock.now())
        self._show_notices()

    def _spooled(self) -> int:
        """What the running OS's spool holds for its next unlock (after a restart too)."""
        from phone_tui.errors import PhoneTuiError

        try:
            return self.handset.persona.spooled_messages()
        except (OSError, PhoneTuiError):
            return 0  # the count is a courtesy: an unreadable spool is reported at unlock

    @property
    def waiting(self) -> int:
        """Messages the network delivered while this OS was locked (still encrypted)."""
        return self._waiting

    def _show_notices(self) -> None:
        if not self.is_mounted:
            return
        self._show_call_banner()
        # On the lock screen the banner drops below the clock, into the space the lock screen
        # keeps for notifications, so the time stays in view.
        self.set_class(self.top is not None and self.top.id == "lock", "-on-lock")
        # A conversation on screen (its chat, info, search) is read: its notices go, from the
        # banner and the shade, as a phone's do.
        looking_at = getattr(self.top, "number", None)
        if isinstance(looking_at, str):
            self.notices.forget(number=looking_at)
        if self._shown_version == self.notices.version:
            return
        self._shown_version = self.notices.version
        self.query_one(NoticeBanner).show(self.notices.current, self.notices.hidden)

    def _notice_event(self, event: Event) -> None:
        """What the banner says about a model event; what the shade forgets."""
        from phone_tui.handset.events import MessageWaiting

        if isinstance(event, Locked):
            # Whoever holds the locked phone reads nothing the OS said while unlocked: not the
            # message texts (they leave memory with the keys), nor what a view said about a
            # contact ("The safety number with Echo changed"). Notices from while it was
            # locked (a damaged file met at start-up) say nothing of its content: they stay.
            self.notices.forget(unlocked=True)
            # Messages read in while only a call was open wait to be read like the spool's.
            self._waiting = self._spooled() + self._guarded_messages
            self._guarded_messages = 0
        elif type(event).__name__ == "Guarded":
            # Only the call is open now: a banner that quoted a message goes, as at a lock.
            self.notices.forget(unlocked=True)
        elif isinstance(event, Unlocked):
            self.notices.forget(key="waiting")  # now read: their own notifications follow
            self._waiting = self._guarded_messages = 0
        elif type(event).__name__ == "GuardLifted":
            self._guarded_messages = 0
        elif type(event).__name__ == "MessageReceived" and self.handset.answering_locked:
            self._guarded_messages += 1
        elif isinstance(event, Wiped | PersonaSwitched):
            self.notices.forget()  # no notification crosses between OSes
            self._waiting = self._spooled()
        elif isinstance(event, MessageWaiting):
            self._waiting += 1
        # A chat (or its info, search, timer) on screen needs no banner for its messages.
        looking_at = getattr(self.top, "number", None)
        notice = notice_for_event(self.handset, event, looking_at=looking_at,
                                  waiting=self._waiting)
        if notice is not None:
            # Messages wait only while locked, and the lock screen lists them in its own
            # rows below the clock, as a phone's does: no banner says it a second time (nor
            # one over the boot screen that comes before the lock screen).
            self.notices.post(notice, self.handset.clock.now(),
                              banner=notice.key != "waiting")
        self._show_notices()

    @on(NoticeBanner.Dismissed)
    def _banner_dismissed(self, event: NoticeBanner.Dismissed) -> None:
        event.stop()
        self.notices.dismiss()
        self._show_notices()

    @on(StatusBar.Pressed)
    def _status_pressed(self, event: StatusBar.Pressed) -> None:
        event.stop()
        self.action_notifications()

    def action_notifications(self) -> None:
        """Open the shade (or close it, when it is open)."""
        from phone_tui.ui.views.shade import NoticeShade

        if self.top is not None and self.top.id == "notice-shade":
            self.pop()
            return
        self.notices.dismiss()
        self._show_notices()
        self.push(NoticeShade())
