"""Bots: scripted phones on the same network, running the same end-to-end encryption.

A bot has its own number, identity keys, in-memory encrypted store and messenger. It reads
what it is sent after a delay (the sender sees "read") and answers by its rules (seeds).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from phone_tui.core.clock import Clock
from phone_tui.core.entropy import Entropy
from phone_tui.crypto.identity import IdentityKeys
from phone_tui.handset.contacts import SeedContact
from phone_tui.handset.events import Event, EventStream
from phone_tui.handset.messenger import (
    IdentityChanged,
    MessageReceived,
    Messenger,
    MessengerError,
)
from phone_tui.store.database import PersonaStore

if TYPE_CHECKING:
    from phone_tui.modem.bus import Network
    from phone_tui.modem.profiles import LinkProfile

log = logging.getLogger(__name__)


class Bot:
    """One scripted contact, attached to ``network``."""

    def __init__(self, seed: SeedContact, network: Network, profile: LinkProfile,
                 entropy: Entropy, clock: Clock) -> None:
        self.seed = seed
        self.events = EventStream()
        store = PersonaStore(None, entropy.token_bytes(32))
        self.modem = network.attach(seed.number, profile, on_message=self._on_envelope,
                                    on_state=self._on_state)
        self.messenger = Messenger(number=seed.number, persona="bot", store=store,
                                   identity=IdentityKeys.generate(entropy, clock.now()),
                                   network=network, modem=self.modem, entropy=entropy,
                                   clock=clock, events=self.events,
                                   save_identity=lambda _keys: None)
        self.messenger.publish_keys()
        self.events.listen(self._on_event)

    def _on_envelope(self, envelope: object) -> None:
        self.messenger.on_envelope(envelope)  # type: ignore[arg-type]

    def _on_state(self, net_id: bytes, state: str, reason: str) -> None:
        self.messenger.on_state(net_id, state, reason)

    def forget_sessions(self) -> None:
        """Forget every conversation partner (the phones were reset with new keys)."""
        self.messenger.store.execute("DELETE FROM sessions")
        self.messenger.store.execute("DELETE FROM contacts")

    def _on_event(self, event: Event) -> None:
        if isinstance(event, IdentityChanged):
            # A scripted service: it takes a phone's new key (after a wipe, say) as it comes.
            self.messenger.accept_identity(event.number)
            return
        if not isinstance(event, MessageReceived):
            return
        loop = asyncio.get_running_loop()
        sender = event.number
        loop.call_later(self.seed.read_delay, self.messenger.mark_read, sender)
        text = next((m.body for m in reversed(self.messenger.history(sender, limit=5))
                     if m.uuid == event.uuid), "")
        reply = self.seed.reply_to(text)
        if reply is not None:
            loop.call_later(self.seed.read_delay + self.seed.reply_delay, self._reply, sender,
                            reply)

    def _reply(self, number: str, text: str) -> None:
        try:
            self.messenger.send_text(number, text)
        except MessengerError as problem:
            log.info("bot %s could not reply: %s", self.seed.name, problem)


def start_bots(seeds: list[SeedContact], network: Network, profile: LinkProfile,
               entropy: Entropy, clock: Clock) -> list[Bot]:
    """Attach a bot for every seed contact marked as one (and not attached yet)."""
    return [Bot(seed, network, profile, entropy, clock) for seed in seeds
            if seed.bot and not network.is_attached(seed.number)]
