"""The handset's side of cell selection: its lines' identities and the events of an encounter.

The decisions are ``modem.cells``'s (sans-IO); this module only names them for the handset:
the IMSI and IMEI of a line, and the domain events the UI, flows and the coach see.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from phone_tui.handset.device import DeviceInfo
from phone_tui.handset.events import CellCamped, CellRefused, Event, NetworkWarning
from phone_tui.modem.cells import (
    Cell,
    Encounter,
    Identity,
    Network,
    RadioPolicy,
    RadioSettings,
    Refusal,
    derive_identity,
    encounter,
)

LOG_SIZE = 50  # refusals and warnings the Network app lists, per OS


def line_identity(number: str, device: DeviceInfo, network: Network) -> Identity:
    """The IMSI (the network's MCC and MNC) and IMEI (the device's TAC) of the line ``number``."""
    return derive_identity(number, network.mcc, network.mnc, device.tac)


def encounter_events(persona: str, met: Encounter) -> list[Event]:
    """The events of ``met`` in the order they happened (refusals and warnings), then the
    cell camped on (none: no service)."""
    events: list[Event] = [
        (CellRefused if isinstance(item, Refusal) else NetworkWarning)(
            persona, item.cell, item.kind, item.text) for item in met.timeline()]
    camped = met.selection.camped
    if camped is not None:
        events.append(CellCamped(persona, camped.id, camped.label, camped.cipher,
                                 camped.null_cipher))
    return events


class Choice(NamedTuple):
    """What one encounter decided: the cell, what was given away, and its events."""

    camped: Cell | None
    disclosed: dict[str, str]
    events: list[Event]


class NetworkSecurity:
    """One handset's radio choosing its cell: it runs ``encounter`` again whenever what it
    depends on changes (the cells around, the OS running, its settings) and keeps, per OS, the
    refusals and warnings the Network app lists."""

    def __init__(self) -> None:
        self._last: tuple[object, ...] | None = None
        self.log: dict[str, deque[CellRefused | NetworkWarning]] = {}

    def choose(self, persona: str, cells: tuple[Cell, ...], policy: RadioPolicy,
               settings: RadioSettings, identity: Identity) -> Choice | None:
        """The new choice, or None when nothing it depends on changed since the last one."""
        key = (persona, cells, policy, policy.effective(settings), identity)
        if key == self._last:
            return None
        self._last = key
        met = encounter(cells, policy, settings, identity)
        events = encounter_events(persona, met)
        log = self.log.setdefault(persona, deque(maxlen=LOG_SIZE))
        log.extend(event for event in events if isinstance(event, CellRefused | NetworkWarning))
        return Choice(met.selection.camped, met.disclosed, events)

    def forget(self) -> None:
        """Choose afresh next time (the line changed under it)."""
        self._last = None
