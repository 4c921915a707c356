"""Bots: scripted phones on the same network, running the same end-to-end encryption.

A bot has its own number, identity keys, encrypted store and messenger. It reads what it is
sent after a delay (the sender sees "read") and answers by its rules (seeds), a plain SMS by
plain SMS (handset/texts.py, in the same store); one with
``answers_calls`` picks up calls after its answer delay, confirms the two words and stays on
until the caller hangs up (BOT_CALL_S at most). Given the
carrier's folder, a bot keeps its store there (``bots/<digits>.db``, under the carrier key) and
carries on after a restart with the same identity and sessions; without one it lives in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
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
    from phone_tui.handset.calls import Media, MediaFactory
    from phone_tui.modem.network import Network
    from phone_tui.modem.profiles import LinkProfile

log = logging.getLogger(__name__)

IDENTITY = "identity"  # the bot's identity keys, in its store's profile table
BOT_CALL_S = 600.0  # a bot hangs up a call this long after it connected (10 min)
SAY_DELAY_S = 0.5  # the bot reads its two words aloud this long after they appear…
CONFIRM_DELAY_S = 1.0  # …and marks them checked this long after


class Bot:
    """One scripted contact, attached to ``network``; its state in ``folder`` when given."""

    def __init__(self, seed: SeedContact, network: Network, profile: LinkProfile,
                 entropy: Entropy, clock: Clock, folder: Path | None = None) -> None:
        self.seed = seed
        self.events = EventStream()
        if folder is None:
            store = PersonaStore(None, entropy.token_bytes(32))
        else:
            from phone_tui.handset.carrier import bot_store_path, carrier_key

            store = PersonaStore(bot_store_path(folder, seed.number), carrier_key(folder))
        self.store = store
        stored = store.get("profile", IDENTITY)
        if stored is not None:
            identity = IdentityKeys.from_secrets(stored)
        else:
            identity = IdentityKeys.generate(entropy, clock.now())
            if folder is not None:
                self._save_identity(identity)
        self.modem = network.attach(seed.number, profile, on_message=self._on_envelope,
                                    on_state=self._on_state)
        self.messenger = Messenger(number=seed.number, persona="bot", store=store,
                                   identity=identity, network=network, modem=self.modem,
                                   entropy=entropy, clock=clock, events=self.events,
                                   save_identity=self._save_identity if folder is not None
                                   else lambda _keys: None)
        self.modem.batch = self.messenger.batch  # a burst of frames: one transaction
        from phone_tui.handset.texts import Texts

        # Plain SMS too: a bot answers a text by text (the carrier reads both).
        self.texts = Texts(persona="bot", store=store, modem=self.modem, clock=clock,
                           events=self.events)
        self.modem.on_sms = self.texts.on_sms
        self.messenger.publish_keys()
        from phone_tui.handset.calls import CallService

        # Every bot takes call signalling (one that does not answer lets calls ring out);
        # media_factory: the media sessions' maker, set by whoever runs the bots.
        self.media_factory: Callable[[Bot], MediaFactory] | None = None
        self.calls = CallService(self.messenger, media_factory=self._media)
        self.calls.plain_calls = True  # bots answer plain carrier calls too
        if hasattr(self.modem, "on_voice"):
            self.modem.on_voice = self.calls.on_voice
            self.modem.on_cc = self.calls.on_cc
        self.events.listen(self._on_event)
        self.messenger.resume_outbox()
        self._catch_up()

    def _media(self, keys: object, codec: str, peer: str) -> Media:
        from phone_tui.handset.calls import stream_media_factory

        factory = (self.media_factory(self) if self.media_factory is not None
                   else stream_media_factory(self.modem))
        return factory(keys, codec, peer)

    def _save_identity(self, keys: IdentityKeys) -> None:
        self.store.put("profile", IDENTITY, keys.to_secrets())

    def _on_envelope(self, envelope: object) -> None:
        self.messenger.on_envelope(envelope)  # type: ignore[arg-type]

    def _on_state(self, net_id: bytes, state: str, reason: str) -> None:
        self.messenger.on_state(net_id, state, reason)

    def forget_sessions(self) -> None:
        """Forget every conversation partner and what was said (the phones were reset with
        new keys); the bot keeps its own identity."""
        for table in ("sessions", "contacts", "messages", "calls", "texts", "texts_seen"):
            self.messenger.store.execute(f"DELETE FROM {table}")
        self.messenger.forget_sessions_in_memory()

    def close(self) -> None:
        """Close the store (phone-tui quits); a call under way is hung up first."""
        self.calls.close()
        self.store.close()

    def _catch_up(self) -> None:
        """What arrived before a restart but was not read yet is read and answered now (the
        timers that would have done it died with the old process)."""
        rows = self.store.execute("SELECT number, uuid FROM messages WHERE outgoing = 0 AND "
                                  "unread = 1 ORDER BY id").fetchall()
        for number, message_id in rows:
            self._answer(number, message_id)
        rows = self.store.execute("SELECT number, id FROM texts WHERE outgoing = 0 AND "
                                  "unread = 1 ORDER BY id").fetchall()
        for number, text_id in rows:
            self._answer_text(number, text_id)

    def _on_event(self, event: Event) -> None:
        from phone_tui.handset.calls import CallSasReady, CallStateChanged

        if isinstance(event, CallStateChanged):
            self._on_call(event)
            return
        if isinstance(event, CallSasReady):
            if self.seed.answers_calls:
                self._later(SAY_DELAY_S, self._say_words, event.call_id)
                self._later(CONFIRM_DELAY_S, self._confirm, event.call_id)
            return
        if isinstance(event, IdentityChanged):
            # A scripted service: it takes a phone's new key (after a wipe, say) as it comes.
            self.messenger.accept_identity(event.number)
            return
        if isinstance(event, MessageReceived):
            self._answer(event.number, event.uuid)
            return
        from phone_tui.handset.texts import TextReceived

        if isinstance(event, TextReceived):
            self._answer_text(event.number, event.text_id)

    def _answer_text(self, sender: str, text_id: int) -> None:
        """A plain SMS: read after the bot's delay, answered by plain SMS by its rules."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: answered at the next start (still unread)
        loop.call_later(self.seed.read_delay, self.texts.mark_read, sender)
        row = self.store.execute("SELECT body FROM texts WHERE id = ?", (text_id,)).fetchone()
        reply = self.seed.reply_to(row[0] if row else "")
        if reply is not None:
            loop.call_later(self.seed.read_delay + self.seed.reply_delay, self._reply_text,
                            sender, reply)

    def _reply_text(self, number: str, text: str) -> None:
        from phone_tui.handset.texts import TextError

        try:
            self.texts.send(number, text)
        except TextError as problem:
            log.info("bot %s could not reply by SMS: %s", self.seed.name, problem)

    def _answer(self, sender: str, message_id: str) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(self.seed.read_delay, self.messenger.mark_read, sender)
        row = self.store.execute("SELECT body FROM messages WHERE uuid = ?",
                                 (message_id,)).fetchone()
        reply = self.seed.reply_to(row[0] if row else "")
        if reply is not None:
            loop.call_later(self.seed.read_delay + self.seed.reply_delay, self._reply, sender,
                            reply)

    def _on_call(self, event: Event) -> None:
        if not self.seed.answers_calls:
            return
        call_id = event.call_id  # type: ignore[attr-defined]
        if event.state == "ringing" and event.direction == "incoming":  # type: ignore[attr-defined]
            self._later(self.seed.answer_delay, self._pick_up, call_id)
        elif event.state == "connected":  # type: ignore[attr-defined]
            self._later(BOT_CALL_S, self._put_down, call_id)

    def _later(self, delay: float, work: Callable[[str], None], call_id: str) -> None:
        with contextlib.suppress(RuntimeError):  # no loop: nothing runs later
            asyncio.get_running_loop().call_later(delay, self._guarded, work, call_id)

    def _guarded(self, work: Callable[[str], None], call_id: str) -> None:
        """Act on the call ``call_id`` if it is still the one under way."""
        from phone_tui.handset.calls import CallError

        current = self.calls.current
        if current is None or current.call_id != call_id:
            return
        try:
            work(call_id)
        except CallError as problem:
            log.info("bot %s: %s", self.seed.name, problem)

    def _pick_up(self, _call_id: str) -> None:
        from phone_tui.handset.calls import CallState

        current = self.calls.current
        if current is not None and current.state is CallState.RINGING:
            self.calls.answer()

    def _say_words(self, _call_id: str) -> None:
        """Read this side's two words aloud (on the call: the caller's screen shows them as
        heard, and a man in the middle cannot change what was said, only relay it)."""
        current = self.calls.current
        if current is not None and current.sas is not None:
            self.calls.say(" ".join(current.sas))

    def _confirm(self, _call_id: str) -> None:
        current = self.calls.current
        if current is not None and current.verified is None and current.sas is not None:
            self.calls.confirm_sas(True)

    def _put_down(self, _call_id: str) -> None:
        self.calls.hangup()

    def _reply(self, number: str, text: str) -> None:
        try:
            self.messenger.send_text(number, text)
        except MessengerError as problem:
            log.info("bot %s could not reply: %s", self.seed.name, problem)


def start_bots(seeds: list[SeedContact], network: Network, profile: LinkProfile,
               entropy: Entropy, clock: Clock, folder: Path | None = None, *,
               audio: bool = False) -> list[Bot]:
    """Attach a bot for every seed contact marked as one (and not attached yet); with
    ``folder`` (the carrier's data folder) each keeps its state there. ``audio``: the bots
    speak the shipped clip on calls (real encoded audio), else their frames carry nothing."""
    bots = [Bot(seed, network, profile, entropy, clock, folder) for seed in seeds
            if seed.bot and not network.is_attached(seed.number)]
    if audio:
        from phone_tui.handset.calls import stream_media_factory
        from phone_tui.media.audio import CallAudio, clip_path

        voice = CallAudio(voice=clip_path())
        for bot in bots:
            bot.media_factory = lambda bot: stream_media_factory(bot.modem, voice)
    return bots
