"""The handset's side of cell selection: its lines' identities and the events of an encounter.

The decisions are ``modem.cells``'s (sans-IO); this module only names them for the handset:
the IMSI and IMEI of a line, and the domain events the UI, flows and the coach see.
"""

from __future__ import annotations

from phone_tui.handset.device import DeviceInfo
from phone_tui.handset.events import CellCamped, CellRefused, Event, NetworkWarning
from phone_tui.modem.cells import Encounter, Identity, Network, Refusal, derive_identity


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
