"""The in-process network: the carrier (``carrier.py``) and its phones (``modem.py``) on one
asyncio loop, joined by an in-process hop seam (``network.py``): a phone's ``Radio`` is the
carrier's ``PhoneEnd``, the carrier's line is the phone's ``Uplink``, and each call goes straight
through, so the link's impairment alone sets the timing.

The names that lived here before the split are re-exported, so ``from phone_tui.modem.bus
import ...`` keeps working.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from phone_tui.modem.carrier import (
    CLOSE_ATTEMPTS,
    DEFAULT_STORE_CAP,
    DEFAULT_TTL,
    SAVE_RETRY_FIRST,
    SAVE_RETRY_MAX,
    Carrier,
    CarrierStats,
)
from phone_tui.modem.echo import ECHO_NUMBER
from phone_tui.modem.forged import ForgedLine
from phone_tui.modem.modem import DEDUP_WINDOW, Modem, ModemStats, Radio, _Driver
from phone_tui.modem.network import (
    NETWORK,
    MessageHandler,
    Network,
    PhoneEnd,
    StateHandler,
    Uplink,
)
from phone_tui.modem.profiles import LinkProfile
from phone_tui.modem.rogue import AttackerTap, Relay
from phone_tui.modem.tap import OperatorTap, TapRecord

if TYPE_CHECKING:
    from phone_tui.modem.cells import Cell, Identity
    from phone_tui.modem.cells import Network as Cells

BusStats = CarrierStats

__all__ = [
    "CLOSE_ATTEMPTS", "DEDUP_WINDOW", "DEFAULT_STORE_CAP", "DEFAULT_TTL", "ECHO_NUMBER",
    "NETWORK", "SAVE_RETRY_FIRST", "SAVE_RETRY_MAX", "Bus", "BusStats", "Carrier",
    "CarrierStats", "ForgedLine", "MessageHandler", "Modem", "ModemStats", "Network",
    "AttackerTap", "OperatorTap", "PhoneEnd", "Radio", "StateHandler", "TapRecord", "Uplink",
    "_Driver",
]


@functools.cache
def _shipped_cells() -> Cells:
    from phone_tui.modem.cells import load_cells

    return load_cells()


class Bus(Carrier):
    """The carrier's network with its phones in this process: one cell, any number of them."""

    def __init__(self, rng: random.Random | None = None, *, cell: str = "GovNet-0001",
                 ttl: float = DEFAULT_TTL, store_cap: int = DEFAULT_STORE_CAP,
                 folder: Path | None = None, wall: Callable[[], float] = time.time,
                 cells: Cells | None = None) -> None:
        """``folder``: keep the key directory and the mailbox there (None: in memory only).
        A damaged file raises CarrierStateError naming it. ``cells``: the network's cells and
        fake base stations (None: seeds/cells.toml, read at the first attachment)."""
        super().__init__(rng, cell=cell, ttl=ttl, store_cap=store_cap, folder=folder, wall=wall)
        self._modems: dict[str, Modem] = {}
        self._cells = cells
        # The fake base stations' own tap, and the ones switched on near a line (a relay each,
        # spliced into the line's hop seam while the phone is camped on it).
        self.attacker = AttackerTap()
        self._fake_near: dict[str, Relay] = {}
        self._spliced: dict[str, Relay] = {}

    @property
    def cells(self) -> Cells:
        """The network's cells (seeds/cells.toml unless given)."""
        if self._cells is None:
            self._cells = _shipped_cells()
        return self._cells

    @property
    def home_cell(self) -> str:
        """The strongest real cell of seeds/cells.toml (where a phone camps with no fake cell
        near, and where a line that never camps, a bot's, is recorded): the intercept
        records and the tap name cells by those ids throughout."""
        from phone_tui.modem.cells import RATS

        real = self.cells.cells.values()
        if not real:
            return self.cell
        return min(real, key=lambda c: (-c.signal_dbm, -RATS.index(c.rat), c.id)).id

    def visible(self, number: str) -> tuple[Cell, ...]:
        """The cells the phone on line ``number`` sees: the real ones, and a fake base station
        switched on near it."""
        relay = self._fake_near.get(number)
        real = tuple(self.cells.cells.values())
        return real if relay is None else (*real, relay.cell)

    def fake_cell_near(self, number: str) -> str:
        """The id of the fake base station near line ``number`` ("" if none)."""
        relay = self._fake_near.get(number)
        return relay.cell.id if relay is not None else ""

    def put_fake_cell(self, number: str, cell: str = "imsi-catcher") -> None:
        """Switch the fake base station ``cell`` (seeds/cells.toml [fake_cells]) on near line
        ``number``: the phone sees a new, stronger cell and chooses again."""
        fake = self.cells.fake.get(cell)
        if fake is None:
            raise KeyError(f"unknown fake cell {cell!r} (known: {', '.join(self.cells.fake)})")
        modem = self._modems[number]
        if number in self._fake_near:
            self.take_fake_cell(number)
        # Stamped with the carrier's wall clock: the pane shows when it caught each thing.
        self._fake_near[number] = Relay(fake, number, modem.radio, self._line_of(modem),
                                        self.attacker, now=self._wall)
        modem.set_cells(self.visible(number))

    def take_fake_cell(self, number: str) -> None:
        """The fake base station near line ``number`` goes: its relay comes out of the path at
        once and the phone chooses a real cell again."""
        if self._fake_near.pop(number, None) is None:
            return
        self._unsplice(number)
        modem = self._modems.get(number)
        if modem is not None:
            modem.set_cells(self.visible(number))

    @staticmethod
    def _line_of(modem: Modem) -> Uplink:
        uplink = modem.radio.uplink
        assert uplink is not None
        return uplink.up if isinstance(uplink, Relay) else uplink

    def _camped(self, number: str, cell: str, disclosed: dict[str, str]) -> None:
        relay = self._fake_near.get(number)
        if relay is not None and disclosed:
            relay.caught(disclosed)  # it asked before any authentication, and was answered
        if relay is not None and cell == relay.cell.id:
            self._splice(number, relay)
            # The carrier sees the line where the relay passes it on.
            super()._camped(number, relay.cell.relays_to or self.home_cell, {})
            return
        self._unsplice(number)
        super()._camped(number, cell, disclosed)

    def _splice(self, number: str, relay: Relay) -> None:
        if number in self._spliced:
            return
        modem = self._modems[number]
        sub = self._subscribers[number]
        relay.up, relay.phone = self._line_of(modem), sub.end
        modem.radio.uplink = relay
        sub.end = relay
        self._spliced[number] = relay

    def _unsplice(self, number: str) -> None:
        relay = self._spliced.pop(number, None)
        if relay is None:
            return
        self._modems[number].radio.uplink = relay.up
        self._subscribers[number].end = relay.phone

    def attach(self, number: str, profile: LinkProfile, *, on_message: MessageHandler,
               on_state: StateHandler, powered: bool = True,
               identity: Identity | None = None) -> Modem:
        """A line on the network. ``powered=False``: known (messages to it are held) but not
        registered until ``modem.set_powered(True)``."""
        if self.is_attached(number):
            raise ValueError(f"{number} is already attached")
        self._restore()
        rng = random.Random(self.rng.getrandbits(64))
        modem = Modem(number, profile, rng, on_message, on_state)
        modem.powered = powered
        # Late-bound, so that a hook set on ``_carry`` after the attachment sees every frame.
        modem.radio.air = lambda frame, direction, m=modem: self._carry(m, frame, direction)
        self._modems[number] = modem
        modem.cells = self.visible(number)
        modem.connect(self.connect(number, modem.radio, identity))
        return modem

    def _carry(self, modem: Modem, frame: bytes, direction: str) -> None:
        """The in-process air: every frame on ``modem``'s radio link, up or down, before the
        link's impairment (which runs on the phone's side). Tests watch and drop frames here."""
        modem.radio.carry(frame, direction)

    def modem(self, number: str) -> Modem:
        """The modem attached under ``number`` (KeyError if none)."""
        return self._modems[number]

    def detach(self, number: str) -> None:
        """The phone is switched off: what it had not acknowledged waits in store-and-forward."""
        if self.is_attached(number):
            self._modems[number].set_powered(False)

    def purge(self, number: str) -> None:
        """A wiped phone: drop what waits for it in store-and-forward and what its own outbox
        still holds (encrypted for keys that no longer exist)."""
        super().purge(number)
        if self.is_attached(number):
            self._modems[number].forget_outbox()
