"""The in-process network: the carrier (``carrier.py``) and its phones (``modem.py``) on one
asyncio loop, joined by an in-process hop seam (``network.py``): a phone's ``Radio`` is the
carrier's ``PhoneEnd``, the carrier's line is the phone's ``Uplink``, and each call goes straight
through, so the link's impairment alone sets the timing.

The names that lived here before the split are re-exported, so ``from phone_tui.modem.bus
import ...`` keeps working.
"""

from __future__ import annotations

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
from phone_tui.modem.tap import OperatorTap, TapRecord

if TYPE_CHECKING:
    from phone_tui.modem.cells import Identity

BusStats = CarrierStats

__all__ = [
    "CLOSE_ATTEMPTS", "DEDUP_WINDOW", "DEFAULT_STORE_CAP", "DEFAULT_TTL", "ECHO_NUMBER",
    "NETWORK", "SAVE_RETRY_FIRST", "SAVE_RETRY_MAX", "Bus", "BusStats", "Carrier",
    "CarrierStats", "ForgedLine", "MessageHandler", "Modem", "ModemStats", "Network",
    "OperatorTap", "PhoneEnd", "Radio", "StateHandler", "TapRecord", "Uplink", "_Driver",
]


class Bus(Carrier):
    """The carrier's network with its phones in this process: one cell, any number of them."""

    def __init__(self, rng: random.Random | None = None, *, cell: str = "GovNet-0001",
                 ttl: float = DEFAULT_TTL, store_cap: int = DEFAULT_STORE_CAP,
                 folder: Path | None = None, wall: Callable[[], float] = time.time) -> None:
        """``folder``: keep the key directory and the mailbox there (None: in memory only).
        A damaged file raises CarrierStateError naming it."""
        super().__init__(rng, cell=cell, ttl=ttl, store_cap=store_cap, folder=folder, wall=wall)
        self._modems: dict[str, Modem] = {}

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
