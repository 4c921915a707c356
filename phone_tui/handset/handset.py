"""The Handset: one phone with its running persona, lock state, auto-lock and events."""

from __future__ import annotations

import asyncio
import json
import logging
from enum import Enum
from typing import TYPE_CHECKING

from phone_tui.core.atomic import atomic_write
from phone_tui.core.clock import Clock
from phone_tui.core.config import PERSONAS, Settings, load_settings, save_settings
from phone_tui.core.entropy import Entropy
from phone_tui.core.paths import Paths, ensure_private_dir
from phone_tui.crypto.keystore import Keystore, UnlockOutcome
from phone_tui.errors import KeystoreCorrupt, PinPolicyError, RadioRemoved, Throttled, WrongPin
from phone_tui.handset.device import RADIOS, DeviceInfo, PersonaInfo
from phone_tui.handset.events import (
    EventStream,
    LinkProfileChanged,
    Locked,
    MessageStateChanged,
    PersonaSwitched,
    PinChanged,
    PinRejected,
    RadioChanged,
    RegistrationChanged,
    SettingChanged,
    SetupCompleted,
    Unlocked,
    Wiped,
)
from phone_tui.handset.persona import AUTO_LOCK_CHOICES, DEFAULT_AUTO_LOCK, KdfConfig, Persona
from phone_tui.handset.pin_policy import check_pin

if TYPE_CHECKING:  # the link is attached after start-up; keep its modules off that path
    from phone_tui.handset.contacts import SeedContact
    from phone_tui.handset.messenger import Messenger
    from phone_tui.modem.bus import Modem, Network
    from phone_tui.modem.frames import Envelope
    from phone_tui.modem.profiles import LinkProfile

log = logging.getLogger(__name__)

RADIO_NAMES = {"camera": "camera", "gps": "GPS", "wifi": "Wi-Fi", "bluetooth": "Bluetooth"}


class HandsetState(Enum):
    SETUP = "setup"
    LOCKED = "locked"
    UNLOCKED = "unlocked"


class Handset:
    """One emulated phone. Async methods run Argon2id in a thread and emit events on the loop."""

    def __init__(self, paths: Paths, settings: Settings, *, clock: Clock, entropy: Entropy,
                 device: DeviceInfo, kdf: KdfConfig | None = None) -> None:
        self.paths = paths
        self.settings = settings
        self.clock = clock
        self.entropy = entropy
        self.device = device
        self.events = EventStream()
        # Both OSes exist side by side; exactly one runs. Nothing of one is reachable from the
        # other: separate folders, keystores, PINs, stores and (while unlocked) keys.
        self.personas = {name: Persona(name, paths.persona_dir(name), entropy, kdf)
                         for name in PERSONAS}
        self.running = settings.persona
        self.last_activity = clock.now()
        self._booted_at = clock.now()
        self._busy = asyncio.Lock()
        self._numbers: dict[str, str] | None = None
        # One physical modem, one line (number) per OS; the line of the OS that is not
        # running is switched off, so the network holds its messages.
        self.modems: dict[str, Modem] = {}
        self.profiles: dict[str, LinkProfile] = {}
        self._registration: tuple[str, int, str] = ("unregistered", 0, "")
        self.received: list[Envelope] = []
        self.network: Network | None = None
        self.messenger: Messenger | None = None
        self.seed_contacts: list[SeedContact] = []

    # ---- state ---------------------------------------------------------------------------------

    @property
    def persona(self) -> Persona:
        """The running persona."""
        return self.personas[self.running]

    @property
    def modem(self) -> Modem | None:
        """The running persona's line (None before the phone registers)."""
        return self.modems.get(self.running)

    @property
    def other(self) -> str:
        """The persona that is not running."""
        return next(name for name in PERSONAS if name != self.running)

    @property
    def state(self) -> HandsetState:
        return self.state_of(self.running)

    def state_of(self, name: str) -> HandsetState:
        persona = self.personas[name]
        if not persona.is_set_up:
            return HandsetState.SETUP
        return HandsetState.UNLOCKED if persona.is_unlocked else HandsetState.LOCKED

    def waiting_for(self, name: str) -> int:
        """Messages the network holds for a persona's number (a count; content stays
        encrypted and, for the OS not running, out of reach)."""
        if self.network is None:
            return 0
        return self.network.waiting(self.line_number(name))

    @property
    def persona_info(self) -> PersonaInfo:
        return self.device.personas[self.persona.name]

    @property
    def wipe_after(self) -> int:
        return self.persona.wipe_after(self.settings.wipe_after_failures)

    def set_wipe_after(self, count: int) -> None:
        """This persona's wipe-after-failures (0 = never); only while it is unlocked."""
        if self.state is not HandsetState.UNLOCKED:
            raise PinPolicyError("Unlock the phone first.")
        self.persona.set_wipe_after(count)
        self.events.emit(SettingChanged(self.persona.name, "wipe_after_failures", count))

    @property
    def number(self) -> str:
        """The running persona's number."""
        return self.line_number(self.running)

    def battery_percent(self) -> int:
        """Drains one percent every ten minutes of emulated time, never below 5 %."""
        drained = int((self.clock.now() - self._booted_at) // 600)
        return max(5, self.device.battery_percent - drained)

    def throttle_wait(self) -> float:
        return self.persona.throttle.load().wait(self.clock.now())

    def failures(self) -> int:
        return self.persona.throttle.load().failures

    # ---- setup, unlock, lock -------------------------------------------------------------------

    async def setup(self, pin: str, duress_pin: str | None = None) -> None:
        """First run: create the persona's keystore and store, and leave it unlocked."""
        check_pin(pin)
        if duress_pin:
            check_pin(duress_pin)
            if duress_pin == pin:
                raise PinPolicyError("The duress PIN must differ from the PIN.")
        profile = {"persona": self.persona.name, "number": self.sim_number,
                   "created_at": self.clock.now()}
        async with self._busy:
            await asyncio.to_thread(self.persona.create, pin, duress_pin or None, profile)
        if self.network is not None:
            # A new identity: what the key directory still holds for this number (a wiped
            # persona's prekeys, kept across restarts) belongs to keys that no longer exist.
            self.network.forget_keys(self.number)
        self._save_public_keys()
        log.info("persona %s set up", self.persona.name)
        self.touch()
        self._start_messenger()
        self.events.emit(SetupCompleted(self.persona.name))
        self.events.emit(Unlocked(self.persona.name))

    @property
    def sim_number(self) -> str:
        """The running persona's number (kept for callers that predate two lines)."""
        return self.number

    def line_number(self, name: str) -> str:
        """A persona's number (MSISDN). The SIM carries two, one per OS, made once per data
        folder and kept in sim.json; the carrier knows them anyway, so it is not encrypted."""
        return self._lines()[name]

    def _lines(self) -> dict[str, str]:
        if self._numbers is not None:
            return self._numbers
        path = self.paths.data_dir / "sim.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raw = {}
        except (ValueError, OSError):
            raise KeystoreCorrupt(path, "the SIM file is damaged; it was left untouched. "
                                        "Remove it to get new numbers") from None
        # Before two lines the file held one "number": it stays the secure OS's.
        numbers = raw.get("numbers", {"secure": raw["number"]} if "number" in raw else {})
        if not isinstance(numbers, dict) or not all(
                isinstance(numbers.get(name, ""), str) for name in PERSONAS):
            raise KeystoreCorrupt(path, "the SIM file is damaged; it was left untouched. "
                                        "Remove it to get new numbers")
        if any(name not in numbers for name in PERSONAS):
            for name in PERSONAS:
                if name not in numbers:
                    rng = self.entropy.rng("sim" if name == "secure" else f"sim.{name}")
                    digits = f"{rng.randrange(10**8):08d}"
                    numbers[name] = f"{self.device.number_prefix} {digits[:4]} {digits[4:]}"
            ensure_private_dir(self.paths.data_dir)
            atomic_write(path, json.dumps({"numbers": numbers}).encode())
        self._numbers = {name: numbers[name] for name in PERSONAS}
        return self._numbers

    # ---- public keys, published before the first unlock ----------------------------------------

    def _save_public_keys(self) -> None:
        """Keep the new persona's public prekey bundle beside its keystore, so the network can
        offer it (and contacts can write) before the persona is unlocked in this run. Public
        material only: it is what the key directory publishes anyway."""
        from phone_tui.crypto.identity import raw_public

        keys = self.persona.identity_keys(self.clock.now())
        one_time = {str(key_id): raw_public(key.public_key()).hex()
                    for key_id, key in keys.opks.items()}
        atomic_write(self.persona.folder / "public.json", json.dumps(
            {"bundle": keys.bundle().encode().hex(), "one_time": one_time}).encode())

    def publish_saved_keys(self) -> None:
        """Offer each persona's saved public bundle to the network, unless it has ours."""
        if self.network is None:
            return
        for name, persona in self.personas.items():
            number = self.line_number(name)
            path = persona.folder / "public.json"
            if self.network.has_keys(number) or not path.exists():
                continue
            try:
                raw = json.loads(path.read_text())
                bundle = bytes.fromhex(raw["bundle"])
                one_time = {int(k): bytes.fromhex(v) for k, v in raw["one_time"].items()}
            except (ValueError, KeyError, TypeError, OSError):
                log.warning("public keys of persona %s unreadable; published at unlock", name)
                continue
            self.network.publish_keys(number, bundle, one_time)

    # ---- the cellular link ---------------------------------------------------------------------

    def attach(self, network: Network, profiles: dict[str, LinkProfile]) -> Modem:
        """Put both lines on ``network``: the running OS's registers with the configured profile
        and airplane mode; the other's stays off, so the network holds its messages."""
        self.profiles = profiles
        self.network = network
        profile = profiles.get(self.settings.link_profile) or profiles["lte"]
        for name in PERSONAS:
            modem = network.attach(
                self.line_number(name), profile, powered=False,
                on_message=lambda envelope, name=name: self._on_message(name, envelope),
                on_state=lambda *state, name=name: self._on_message_state(name, *state))
            modem.airplane = self.settings.airplane
            modem.listeners.append(self._on_modem_change)
            self.modems[name] = modem
        modem = self.modems[self.running]
        modem.set_powered(True)
        self.publish_saved_keys()
        self._registration = self._link_state()
        if self.state is HandsetState.UNLOCKED:
            self._start_messenger()
        return modem

    def _link_state(self) -> tuple[str, int, str]:
        modem = self.modem
        assert modem is not None
        return modem.registration, modem.bars, modem.profile.network_type

    def _on_modem_change(self, modem: Modem) -> None:
        if modem is not self.modem:
            return  # the other OS's line being switched off
        state = self._link_state()
        if state != self._registration:
            self._registration = state
            self.events.emit(RegistrationChanged(self.persona.name, *state))

    def set_link_profile(self, name: str) -> None:
        if self.modem is None or name not in self.profiles:
            raise PinPolicyError(f"Unknown link profile {name!r}.")
        self.modem.set_profile(self.profiles[name])
        self.events.emit(LinkProfileChanged(self.persona.name, name))

    def set_airplane(self, on: bool) -> None:
        if self.modem is not None:
            self.modem.set_airplane(on)

    def remember(self, **changes: object) -> None:
        """Apply choices and keep them in this phone's settings.toml. The file is read again
        first, so options given for one run (--persona, --log-level) are not written, and a file
        that no longer reads raises ConfigError and is left alone."""
        from dataclasses import replace

        self.settings = replace(self.settings, **changes)
        path = self.paths.settings_file
        on_disk = load_settings(path)
        wanted = replace(on_disk, **changes)
        if wanted != on_disk:
            save_settings(path, wanted)

    def _on_message(self, name: str, envelope: Envelope) -> None:
        if name != self.running:
            # A frame the other OS's line was still receiving as it switched off: it belongs to
            # that persona, whose keys are gone. Keep the ciphertext for its next unlock.
            self._spool_for(self.personas[name], "envelope", data=envelope.encode().hex())
            return
        self.received.append(envelope)
        del self.received[:-256]
        if self.messenger is not None:
            self.messenger.on_envelope(envelope)
        elif envelope.src != "echo":
            # Locked: the keys to read it are not in memory. Keep the ciphertext until unlock.
            self._spool_for(self.persona, "envelope", data=envelope.encode().hex())

    def _on_message_state(self, name: str, msg_id: bytes, state: str, reason: str) -> None:
        if name == self.running:
            self.events.emit(MessageStateChanged(name, msg_id, state, reason))
        if name == self.running and self.messenger is not None:
            self.messenger.on_state(msg_id, state, reason)
        else:
            self._spool_for(self.personas[name], "state", msg_id=msg_id.hex(), state=state,
                            reason=reason)

    @staticmethod
    def _spool_for(persona: Persona, kind: str, **fields: str) -> None:
        if persona.is_set_up:
            persona.spool(kind, **fields)

    # ---- switching OS --------------------------------------------------------------------------

    def switch_persona(self, name: str) -> None:
        """Lock the running OS (its keys leave memory), switch its line off and run ``name``,
        which comes up locked (or at first-run setup). Its line registers; the network then
        delivers what it held."""
        if name not in self.personas:
            raise PinPolicyError(f"Unknown OS {name!r} (known: {', '.join(PERSONAS)}).")
        if name == self.running:
            return
        previous = self.running
        self.lock("switch")
        self.received.clear()
        old = self.modems.get(previous)
        self.running = name
        self.touch()
        log.info("switched from persona %s to %s", previous, name)
        self.events.emit(PersonaSwitched(name, previous))
        new = self.modems.get(name)
        if old is not None and new is not None:
            # The same radio: the link profile and airplane mode carry over.
            new.airplane = old.airplane
            new.link.profile = old.profile
            old.set_powered(False)
            new.set_powered(True)

    # ---- the messenger (while unlocked and attached) -------------------------------------------

    def _start_messenger(self) -> None:
        if self.messenger is not None or self.modem is None or self.network is None \
                or self.persona.store is None:
            return
        from phone_tui.handset.messenger import Messenger
        from phone_tui.modem.frames import Envelope

        self.messenger = Messenger(
            number=self.sim_number, persona=self.persona.name, store=self.persona.store,
            identity=self.persona.identity_keys(self.clock.now()), network=self.network,
            modem=self.modem, entropy=self.entropy, clock=self.clock, events=self.events,
            save_identity=self.persona.save_identity)
        for contact in self.seed_contacts:
            if self.messenger.contact(contact.number) is None:
                self.messenger.add_contact(contact.number, contact.name, bot=contact.bot)
        self.messenger.publish_keys()
        for record in self.persona.drain_spool():
            if record.get("kind") == "envelope":
                self.messenger.on_envelope(Envelope.decode(bytes.fromhex(record["data"])))
            elif record.get("kind") == "state":
                self.messenger.on_state(bytes.fromhex(record["msg_id"]), record["state"],
                                        record.get("reason", ""))
        self.messenger.expire()
        self.messenger.resume_outbox()

    async def unlock(self, pin: str) -> UnlockOutcome:
        """Try a PIN. Raises Throttled while a wait runs and WrongPin (with what is left) on a
        wrong PIN; returns DURESS after a silent wipe, UNLOCKED on success."""
        wait = self.throttle_wait()
        if wait > 0:
            raise Throttled(wait)
        async with self._busy:
            outcome = await asyncio.to_thread(self.persona.try_unlock, pin)
        if outcome is UnlockOutcome.UNLOCKED:
            self.persona.throttle.reset()
            log.info("persona %s unlocked", self.persona.name)
            self.touch()
            self._start_messenger()
            self.events.emit(Unlocked(self.persona.name))
        elif outcome is UnlockOutcome.DURESS:
            self._wipe("duress")
        else:
            self._reject_pin()
        return outcome

    def _reject_pin(self) -> None:
        state = self.persona.throttle.record_failure(self.clock.now())
        left = self.wipe_after - state.failures if self.wipe_after else None
        log.info("wrong PIN for persona %s (%d in a row)", self.persona.name, state.failures)
        if left is not None and left <= 0:
            self._wipe("failures")
            raise WrongPin(state.failures, 0, 0)
        wait = state.wait(self.clock.now())
        self.events.emit(PinRejected(self.persona.name, state.failures, left, wait))
        raise WrongPin(state.failures, left, wait)

    def _wipe(self, reason: str) -> None:
        self.messenger = None
        self.persona.wipe()
        log.warning("persona %s wiped", self.persona.name)
        self.events.emit(Wiped(self.persona.name, reason))

    def lock(self, reason: str = "user") -> None:
        if self.state is not HandsetState.UNLOCKED:
            return
        self.messenger = None
        self.persona.lock()
        log.info("persona %s locked (%s)", self.persona.name, reason)
        self.events.emit(Locked(self.persona.name, reason))

    async def wipe(self) -> None:
        """Wipe the running persona on the user's request."""
        async with self._busy:
            self._wipe("user")

    async def verify_pin(self, pin: str) -> Keystore:
        """Check the PIN of the unlocked persona before a sensitive change. A wrong one counts
        as a failed attempt (and a duress PIN is only a wrong PIN here: no wipe mid-change)."""
        keystore = self._open_keystore()
        wait = self.throttle_wait()
        if wait > 0:
            raise Throttled(wait)
        async with self._busy:
            outcome, check = await asyncio.to_thread(
                Keystore.unlock, self.persona.keystore_path, pin, entropy=self.entropy,
                policy=self.persona.kdf.policy)
        if check is not None:
            check.close()
        if outcome is not UnlockOutcome.UNLOCKED:
            self._reject_pin()
        self.persona.throttle.reset()
        return keystore

    async def set_duress_pin(self, current: str, duress: str) -> None:
        """Set (or replace) the duress PIN after checking the current PIN."""
        check_pin(duress)
        if duress == current:
            raise PinPolicyError("The duress PIN must differ from the PIN.")
        keystore = await self.verify_pin(current)
        async with self._busy:
            await asyncio.to_thread(keystore.set_duress_pin, duress)
        log.info("duress PIN set for persona %s", self.persona.name)

    async def wipe_with_pin(self, pin: str) -> None:
        """Wipe the running persona on the user's request, once the PIN is confirmed."""
        await self.verify_pin(pin)
        await self.wipe()

    async def change_pin(self, current: str, new: str) -> None:
        """Check the current PIN (a wrong one counts as a failed attempt), then re-wrap."""
        check_pin(new)
        keystore = await self.verify_pin(current)
        if new == current:
            raise PinPolicyError("The new PIN is the same as the current one.")
        async with self._busy:
            await asyncio.to_thread(keystore.change_pin, new)
        self.persona.throttle.reset()
        log.info("PIN changed for persona %s", self.persona.name)
        self.events.emit(PinChanged(self.persona.name))

    def _open_keystore(self) -> Keystore:
        if self.persona.keystore is None:
            raise PinPolicyError("Unlock the phone first.")
        return self.persona.keystore

    # ---- radios (policy per persona; state in the persona's store) ------------------------------

    def radio_present(self, radio: str) -> bool:
        """False when this OS's policy removed the radio (the secure OS has none of them)."""
        return radio in RADIOS and radio not in self.persona_info.removed_radios

    def radio_on(self, radio: str) -> bool:
        store = self.persona.store
        return (self.radio_present(radio) and store is not None
                and bool(store.get("settings", f"radio.{radio}", False)))

    def set_radio(self, radio: str, on: bool) -> None:
        if not self.radio_present(radio):
            raise RadioRemoved(f"The {RADIO_NAMES.get(radio, radio)} is not present: removed "
                               f"by the {self.persona_info.os_name} policy.")
        store = self.persona.store
        if store is None:
            raise PinPolicyError("Unlock the phone first.")
        store.put("settings", f"radio.{radio}", bool(on))
        self.events.emit(RadioChanged(self.persona.name, radio, bool(on)))

    # ---- persona settings (in the encrypted store) ---------------------------------------------

    @property
    def auto_lock_seconds(self) -> int:
        store = self.persona.store
        return store.get("settings", "auto_lock_seconds", DEFAULT_AUTO_LOCK) if store else 0

    def set_auto_lock(self, seconds: int) -> None:
        if seconds not in AUTO_LOCK_CHOICES:
            raise PinPolicyError(f"Auto-lock must be one of {AUTO_LOCK_CHOICES} seconds.")
        store = self.persona.store
        if store is None:
            raise PinPolicyError("Unlock the phone first.")
        store.put("settings", "auto_lock_seconds", seconds)
        self.events.emit(SettingChanged(self.persona.name, "auto_lock_seconds", seconds))

    def touch(self) -> None:
        """The user did something: restart the idle timer."""
        self.last_activity = self.clock.now()

    def idle_seconds_left(self) -> float | None:
        timeout = self.auto_lock_seconds
        if self.state is not HandsetState.UNLOCKED or not timeout:
            return None
        return max(0.0, timeout - (self.clock.now() - self.last_activity))

    def check_idle(self) -> bool:
        """Lock when the idle timeout has passed; True if it locked."""
        left = self.idle_seconds_left()
        if left is not None and left <= 0:
            self.lock("idle")
            return True
        return False
