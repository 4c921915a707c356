"""Domain events the handset publishes. The UI, flow runners and coach subscribe; none poll."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from phone_tui.core.fanout import Fanout


@dataclass(frozen=True)
class Event:
    """Base class: every event names the persona it happened in."""

    persona: str


@dataclass(frozen=True)
class SetupCompleted(Event):
    pass


@dataclass(frozen=True)
class Unlocked(Event):
    pass


@dataclass(frozen=True)
class Locked(Event):
    reason: str  # "user", "idle", "pin_changed"...


@dataclass(frozen=True)
class PersonaSwitched(Event):
    """The handset now runs ``persona`` (locked or not set up); ``previous`` was locked and its
    keys dropped from memory."""

    previous: str


@dataclass(frozen=True)
class PinRejected(Event):
    failures: int
    attempts_left: int | None
    wait_seconds: float


@dataclass(frozen=True)
class PinChanged(Event):
    pass


@dataclass(frozen=True)
class Wiped(Event):
    reason: str  # "failures", "duress", "user"


@dataclass(frozen=True)
class SettingChanged(Event):
    key: str
    value: object


@dataclass(frozen=True)
class RegistrationChanged(Event):
    registration: str  # home, roaming, searching, denied, unregistered
    bars: int
    network_type: str


@dataclass(frozen=True)
class RadioChanged(Event):
    radio: str  # camera, gps, wifi, bluetooth
    on: bool


@dataclass(frozen=True)
class LinkProfileChanged(Event):
    profile: str


@dataclass(frozen=True)
class MessageStateChanged(Event):
    msg_id: bytes
    state: str  # sent, delivered, failed
    reason: str


Listener = Callable[[Event], None]


class EventStream:
    """Fan-out of events: synchronous listeners plus bounded async subscriptions."""

    def __init__(self, history: int = 256) -> None:
        self._listeners: list[Listener] = []
        self._fanout: Fanout[Event] = Fanout()
        self._history_size = history
        self.history: list[Event] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event; returns a function that stops listening."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe(self, maxsize: int = 1024) -> AsyncIterator[Event]:
        """Iterate events as they come. A reader that falls behind loses the oldest ones."""
        return self._fanout.subscribe(maxsize)

    def emit(self, event: Event) -> None:
        self.history.append(event)
        del self.history[:-self._history_size]
        for listener in list(self._listeners):
            listener(event)
        self._fanout.publish(event)
