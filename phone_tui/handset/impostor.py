"""A man in the middle inside the carrier: a new identity that speaks as one of your contacts.

The carrier can put any sender number on a message, so the impostor sends one that claims to
come from the contact, opening a session with the victim's published keys under its own new
identity. The handset's messenger sees a new identity key for a known contact and blocks
sending until the user compares the safety number: exactly what end-to-end encryption is for.
(The key directory is left alone, so the real contact stays reachable once the stage resets.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from phone_tui.core.clock import Clock
from phone_tui.core.entropy import Entropy
from phone_tui.crypto.identity import IdentityKeys
from phone_tui.handset.events import EventStream
from phone_tui.handset.messenger import Messenger
from phone_tui.store.database import PersonaStore

if TYPE_CHECKING:
    from phone_tui.modem.bus import Bus
    from phone_tui.modem.forged import ForgedLine

M = TypeVar("M", bound=Messenger)


def impersonate(network: Bus, number: str, victim: str, text: str, *, entropy: Entropy,
                clock: Clock) -> Messenger:
    """Send ``text`` to ``victim`` as ``number`` from a fresh identity; returns the impostor."""
    impostor = new_impostor(network, number, network.forge(number), entropy=entropy, clock=clock)
    impostor.add_contact(victim, "victim")
    impostor.send_text(victim, text)
    return impostor


def new_impostor(network: Bus, number: str, line: ForgedLine, *, entropy: Entropy, clock: Clock,
                 kind: type[M] = Messenger) -> M:  # type: ignore[assignment]
    """A messenger of class ``kind`` that speaks as ``number`` on the carrier's forged
    ``line``, from a fresh identity key kept in memory only."""
    return kind(number=number, persona="impostor",
                store=PersonaStore(None, entropy.token_bytes(32)),
                identity=IdentityKeys.generate(entropy, clock.now()), network=network,
                modem=line, entropy=entropy,  # type: ignore[arg-type]
                clock=clock, events=EventStream(), save_identity=lambda _keys: None)
