"""Keys one at a time: a key goes to the focused widget only once the one before it is handled.

Textual hands every key of a burst (a paste, tmux ``send-keys``, a fast typist on a loaded
machine) to the widget focused *when the app reads it*, and handles it later, in that widget's
own queue. A key that opens a view (Enter on a tile) acts only once it has bubbled back to the
app, and the view it opens is mounted and focused later still; by then the keys behind it in the
burst went to the view it covered, or were dropped. Here the app holds every key until the one
before it has been handled:

- **its bubbling**: a callback follows the key up from the widget it went to, parent by parent
  (each queue runs it after the key), to the app, which runs the key's binding on the way;
- **what that caused**: the same walk again, from the same widget, behind the messages the
  binding posted there (a Launch, an OptionSelected; each sweep trails one more step of them);
- **the phone catching up**: a phone that is busy (a view pushed but not yet focused, an unlock
  running, a reset pending) holds the keys until it says it is ready (``keys_may_go``), or a
  look a moment later finds it so.

Then the next key goes to whatever has the focus *then*. A mouse button pressed while keys wait
waits behind them too (a click on another stage phone must not take keys typed for the one in
front). ``ctrl+q`` never waits. At most 256 keys wait; the phone says how many it dropped.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from textual import events
from textual.app import App
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.dom import DOMNode

MAX_WAITING_KEYS = 256  # a burst longer than this, typed while keys wait, is cut (and said)
SWEEPS = 3  # walks up behind a key: its bubbling, then two steps of what it caused
RECHECK = 0.05  # seconds between looks at a busy phone that has not said it is ready
BUSY_LIMIT = 10.0  # seconds: a phone busy longer than this (a bug) gets the keys anyway


class KeyPacing:
    """For an App (before ``App`` in the bases): keys in order, each after the one before."""

    _pacing_waiting: deque[events.Key | events.MouseEvent]
    _pacing_dropped = 0  # keys cut since the queue was last empty
    _pacing_in_flight: object | None = None
    _pacing_busy_since: float | None = None
    _pacing_recheck = False  # a look at a busy phone is due

    def _pacing_state(self) -> deque[events.Key | events.MouseEvent]:
        try:
            return self._pacing_waiting
        except AttributeError:
            self._pacing_waiting = deque()
            return self._pacing_waiting

    @property
    def keys_waiting(self) -> int:
        """Keys read from the terminal and not yet handed to a widget (tests wait for 0)."""
        return len(self._pacing_state()) + (self._pacing_in_flight is not None)

    def keys_busy(self) -> bool:
        """Whether what shows is still catching up with a key (an App says: its phone)."""
        return False

    def pointer_pressed(self, event: events.MouseDown) -> None:
        """A mouse button went down, its turn come (after the keys typed before it)."""

    def keys_may_go(self) -> None:
        """Whatever held the keys is ready: the next one goes, after the focus changes already
        queued at the app (so it lands where they put the focus) and the focus events they
        sent up (a stage slot makes its phone the active one on those)."""
        app: App = self  # type: ignore[assignment]
        app.call_later(self._pacing_after_focus)

    def _pacing_after_focus(self) -> None:
        app: App = self  # type: ignore[assignment]
        if self._pacing_in_flight is not None or not self._pacing_state():
            return
        token = object()
        self._pacing_in_flight = token
        focused = app.focused
        self._sweep(focused if focused is not None else app, token, 1, then_focus=False)

    async def on_event(self, event: events.Event) -> None:
        app: App = self  # type: ignore[assignment]
        if not app.screen_stack:  # closing (or not started): nothing to pace for
            if isinstance(event, events.Key):
                # Nothing left to type into: Textual's own key handling would look for the
                # screen's bindings and raise ScreenStackError (a key queued at shutdown).
                return
            await super().on_event(event)  # type: ignore[misc]
            return
        if isinstance(event, events.Key) and not event.is_forwarded:
            waiting = self._pacing_state()
            bindings = self._pacing_bindings()
            active = bindings.get(event.key) if bindings is not None else None
            if active is not None and active.binding.action == "quit":
                await super().on_event(event)  # type: ignore[misc]
                return
            if self._pacing_in_flight is not None or waiting or self.keys_busy():
                self._pacing_wait(event)
                return
            await self._pacing_send(event, bound=bindings is None or active is not None)
            return
        if isinstance(event, events.MouseDown | events.MouseUp) and not event.is_forwarded:
            if self._pacing_in_flight is not None or self._pacing_state():
                self._pacing_wait(event)  # behind the keys typed before it
                return
            await self._pacing_pointer(event)
            return
        await super().on_event(event)  # type: ignore[misc]

    def _pacing_wait(self, event: events.Key | events.MouseEvent) -> None:
        waiting = self._pacing_state()
        if len(waiting) < MAX_WAITING_KEYS:
            waiting.append(event)
        else:
            self._pacing_dropped += 1
        self._pacing_next()

    async def _pacing_pointer(self, event: events.MouseEvent) -> None:
        if isinstance(event, events.MouseDown):
            self.pointer_pressed(event)
        await super().on_event(event)  # type: ignore[misc]

    def _pacing_bindings(self) -> dict | None:
        """The keys bound on the focused chain and the app (enabled or not), or None before
        there is a screen. A bound key may act anywhere (open a view, move the focus); any
        other is typed into the focused widget, or dropped, and changes nothing else."""
        app: App = self  # type: ignore[assignment]
        try:
            return app.screen.active_bindings
        except Exception:  # noqa: BLE001 - no screen yet
            return None

    async def _pacing_send(self, event: events.Key, *, bound: bool) -> None:
        """Hand ``event`` on as Textual would (priority bindings, else the focused widget);
        for a bound key, follow it up until it and what it caused are handled."""
        app: App = self  # type: ignore[assignment]
        if not bound:
            # Typed: it goes to the focused widget's queue like the keys before it, which keeps
            # their order; nothing to wait for (a paste costs no more than without pacing).
            self._pacing_in_flight = None
            await super().on_event(event)  # type: ignore[misc]
            return
        token = object()
        self._pacing_in_flight = token
        target: DOMNode = app.focused or app.screen
        await super().on_event(event)  # type: ignore[misc]
        self._sweep(target, token, SWEEPS)

    def _sweep(self, start: DOMNode, token: object, sweeps: int, *,
               then_focus: bool = True) -> None:
        """Follow up from ``start`` to the app ``sweeps`` times, then once from the widget
        focused by then (behind the focus events a key's action caused); then the next key."""
        app: App = self  # type: ignore[assignment]

        def step(node: DOMNode) -> None:
            if self._pacing_in_flight is not token:
                return
            parent = node.parent
            if parent is None or node is app:
                swept()
            elif not parent.call_later(step, parent):
                step(parent)  # its queue is closed (removed meanwhile): on past it

        def swept() -> None:
            if sweeps > 1:
                again = start if isinstance(start, Widget) and start.is_attached else app.screen
                self._sweep(again, token, sweeps - 1, then_focus=then_focus)
            elif then_focus and app.focused is not None and app.focused is not start:
                self._sweep(app.focused, token, 1, then_focus=False)
            else:
                self._pacing_in_flight = None
                self._pacing_next()

        if start is app or not start.call_later(step, start):
            step(start)

    def _pacing_next(self) -> None:
        """Hand on the next waiting key, if nothing is in flight and the phone is ready."""
        app: App = self  # type: ignore[assignment]
        waiting = self._pacing_state()
        if self._pacing_in_flight is not None:
            return
        if not waiting:
            self._pacing_busy_since = None
            if self._pacing_dropped:
                dropped, self._pacing_dropped = self._pacing_dropped, 0
                app.notify(f"{dropped} keys typed while the phone was busy were dropped: at "
                           f"most {MAX_WAITING_KEYS} wait.", title="Keys", severity="warning")
            return
        if not self.keys_busy():
            self._pacing_busy_since = None
        else:
            # Busy: wait, up to BUSY_LIMIT from when it was first seen busy (not per key:
            # past the limit, what waits goes on until the phone is seen ready again).
            now = time.monotonic()
            if self._pacing_busy_since is None:
                self._pacing_busy_since = now
            if now - self._pacing_busy_since < BUSY_LIMIT:
                if not self._pacing_recheck:
                    self._pacing_recheck = True
                    app.set_timer(RECHECK, self._pacing_recheck_now)
                return
        token = object()
        self._pacing_in_flight = token  # claimed now: a second look meanwhile sends nothing
        event = waiting.popleft()

        async def send() -> None:
            if self._pacing_in_flight is not token:
                return
            if not isinstance(event, events.Key):
                self._pacing_in_flight = None
                await self._pacing_pointer(event)
                self._pacing_next()
                return
            bindings = self._pacing_bindings()
            await self._pacing_send(event, bound=bindings is None or event.key in bindings)
            # Typed keys behind it go on at once, up to the next bound one (typing moves no
            # focus, so the bindings looked up are still the ones that apply).
            while self._pacing_in_flight is None and waiting and bindings is not None \
                    and isinstance(waiting[0], events.Key) \
                    and waiting[0].key not in bindings and not self._still_busy():
                await self._pacing_send(waiting.popleft(), bound=False)  # type: ignore[arg-type]
            self._pacing_next()

        app.call_later(send)

    def _still_busy(self) -> bool:
        """Busy, and not past the limit (past it, what waits goes on)."""
        if not self.keys_busy():
            return False
        since = self._pacing_busy_since
        return since is None or time.monotonic() - since < BUSY_LIMIT

    def _pacing_recheck_now(self) -> None:
        self._pacing_recheck = False
        self._pacing_next()


async def press_at_once(pilot, keys: list[str] | tuple[str, ...]) -> None:  # noqa: ANN001
    """Send ``keys`` as a terminal sends a burst (Pilot.press names keys the same way but
    waits for the app to go idle after each one, about 60 ms a key), then wait until the app
    has handed every one on and what they started (a worker: a PIN's Argon2id) has ended."""
    import unicodedata

    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    app = pilot.app
    driver = app._driver
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        original = REPLACED_KEYS.get(key, key)
        try:
            char: str | None = unicodedata.lookup(_get_unicode_name_from_key(original))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        driver.send_message(event)
    await keys_handled(pilot)


async def keys_handled(pilot, rounds: int = 1000) -> None:  # noqa: ANN001
    """Wait (in short pauses, ``rounds`` at most) until no key waits at the app, no worker
    runs, no phone is catching up (a view pushed and not yet focused, a reset to the view for
    a new state pending) and the screen has caught up."""
    from textual.worker import WorkerState

    from phone_tui.ui.handset_view import HandsetView

    app = pilot.app
    quiet = 0
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
        running = any(worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
                      for worker in app.workers)
        behind = any(phone.keys_busy for phone in app.query(HandsetView))
        if not running and not behind and not getattr(app, "keys_waiting", 0):
            # Twice in a row: what a key or action posted (a model event the phone turns into
            # a reset: Ctrl+L's Locked) may be one queue away still at the first look.
            quiet += 1
            if quiet == 2:
                await app._animator.wait_until_complete()
                return
            continue
        quiet = 0
        await pilot.pause(0.01)
