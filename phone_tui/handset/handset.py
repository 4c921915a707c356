"""The Handset: one phone with its running persona, lock state, auto-lock and events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from phone_tui.core.atomic import atomic_write
from phone_tui.core.clock import Clock
from phone_tui.core.config import PERSONAS, Settings, load_settings, save_settings
from phone_tui.core.documents import read_json
from phone_tui.core.entropy import Entropy
from phone_tui.core.paths import Paths, ensure_private_dir
from phone_tui.crypto.keystore import Keystore, UnlockOutcome
from phone_tui.errors import (
    HandsetBusy,
    KeystoreCorrupt,
    PinPolicyError,
    RadioRemoved,
    Throttled,
    WrongPin,
)
from phone_tui.handset.device import RADIOS, DeviceInfo, PersonaInfo
from phone_tui.handset.events import (
    CellRefused,
    EventStream,
    Guarded,
    GuardLifted,
    LinkProfileChanged,
    Locked,
    MessageStateChanged,
    MessageWaiting,
    NetworkWarning,
    PersonaSwitched,
    PinChanged,
    PinRejected,
    RadioChanged,
    RegistrationChanged,
    SettingChanged,
    SetupCompleted,
    Unlocked,
    ViewShown,
    Wiped,
)
from phone_tui.handset.network_security import NetworkSecurity, line_identity
from phone_tui.handset.persona import AUTO_LOCK_CHOICES, DEFAULT_AUTO_LOCK, KdfConfig, Persona
from phone_tui.handset.pin_policy import check_pin
from phone_tui.modem.cells import Cell, Identity, RadioSettings

if TYPE_CHECKING:  # the link is attached after start-up; keep its modules off that path
    from phone_tui.crypto.identity import IdentityKeys
    from phone_tui.handset.calls import CallInfo, CallService, MediaFactory
    from phone_tui.handset.contacts import SeedContact
    from phone_tui.handset.messenger import Messenger
    from phone_tui.handset.spool import SpoolRecord, SpoolReplay
    from phone_tui.handset.texts import Text, Texts
    from phone_tui.media.audio import CallAudio
    from phone_tui.modem.frames import Envelope
    from phone_tui.modem.modem import Modem
    from phone_tui.modem.network import Network
    from phone_tui.modem.profiles import LinkProfile

log = logging.getLogger(__name__)

T = TypeVar("T")

# What sim.json may hold for a line: "+86 190 1234 5678" and the like.
HEX = re.compile(r"(?:[0-9a-f]{2})+")
KEY_ID = re.compile(r"[0-9]{1,10}")
SIM_NUMBER = re.compile(r"\+?[0-9][0-9 ]{2,30}")
RADIO_NAMES = {"camera": "camera", "gps": "GPS", "wifi": "Wi-Fi", "bluetooth": "Bluetooth"}
RING_AGAIN_AFTER_S = 60.0  # a number whose lock-screen ring went unanswered rings again after
MAX_QUIET_NUMBERS = 256  # numbers remembered for that (a flood of senders is forgotten)


class HandsetState(Enum):
    SETUP = "setup"
    LOCKED = "locked"
    UNLOCKED = "unlocked"


class Handset:
    """One emulated phone. Async methods run Argon2id in a thread and emit events on the loop."""

    def __init__(self, paths: Paths, settings: Settings, *, clock: Clock, entropy: Entropy,
                 device: DeviceInfo, kdf: KdfConfig | None = None,
                 auto_lock: int = DEFAULT_AUTO_LOCK) -> None:
        """``auto_lock``: the auto-lock (seconds, 0 = never) an OS starts with at setup; its
        Settings change it afterwards (the demo stage's phones start with none)."""
        if auto_lock not in AUTO_LOCK_CHOICES:
            raise PinPolicyError(f"Auto-lock must be one of {AUTO_LOCK_CHOICES} seconds.")
        self.paths = paths
        self.default_auto_lock = auto_lock
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
        # The running OS's settings as last read from or written to its store (the UI asks for
        # the auto-lock and the radios every second); tied to the store object they came from,
        # so a lock, a switch or a wipe (another store, or none) starts afresh.
        self._settings_of: object | None = None
        self._settings: dict[str, Any] = {}
        # PIN operations (setup, unlock, PIN checks and changes, wipes) run one at a time, each
        # bound to the persona it was asked for; while any is pending the OS does not switch.
        self._busy = asyncio.Lock()
        self._pending: str | None = None  # what the oldest pending operation is, for messages
        self._operations = 0
        self._tasks: set[asyncio.Task[object]] = set()
        self._lock_after: str | None = None
        self._numbers: dict[str, str] | None = None
        # One physical modem, one line (number) per OS; the line of the OS that is not
        # running is switched off, so the network holds its messages.
        self.modems: dict[str, Modem] = {}
        self.profiles: dict[str, LinkProfile] = {}
        self._registration: tuple[str, int, str] = ("unregistered", 0, "")
        self.received: list[Envelope] = []
        self.network: Network | None = None
        # The radio's choice of cell (handset/network_security.py) and the lines' identities.
        self.network_security = NetworkSecurity()
        self.identities: dict[str, Identity] = {}
        self._home_profile: LinkProfile | None = None  # the link before a cell changed it
        self._home_cell = ""
        self.messenger: Messenger | None = None
        # The running OS's plain SMS while it is unlocked (texts.py; None under an OS without
        # plain SMS, and while locked: what comes meanwhile waits in the spool).
        self.texts: Texts | None = None
        # The running persona's calls while it is unlocked (None while locked); a call that
        # rang the locked phone (number only: the offer is not readable without the keys);
        # whether the phone locks again when the call under way ends (answered from the lock
        # screen); the media sessions' maker (None: no media, until media/stream.py is there).
        self.calls: CallService | None = None
        self.locked_call: CallInfo | None = None
        self.relock_after_call = False
        self.media_factory: Callable[[Messenger], MediaFactory] | None = None
        # Real audio on calls (None: frames that carry nothing, as in deterministic runs).
        self.audio: CallAudio | None = None
        self._locked_ring_timer: asyncio.TimerHandle | None = None
        self._answering_locked = False
        # A plain carrier call's SETUP that rang the locked phone: read by the calls at unlock.
        self._locked_setup: Envelope | None = None
        self._quiet_until: dict[str, float] = {}  # numbers whose lock-screen ring waits
        self.events.listen(self._on_event)
        self._catching_up: asyncio.Task[None] | None = None  # the spool's replay after unlock
        self.seed_contacts: list[SeedContact] = []
        # Or, until a messenger first needs them, what loads them: the lock screen does not,
        # and reading them (about 14 M instructions) no longer delays its start-up.
        self.load_seed_contacts: Callable[[], list[SeedContact]] | None = None

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
        # Keys in memory came from its keystore: no need to look for the file (the UI asks
        # every second, and a stat is a system call).
        if persona.is_unlocked:
            return HandsetState.UNLOCKED
        return HandsetState.LOCKED if persona.is_set_up else HandsetState.SETUP

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
        return self.persona.throttle.wait(self.clock.now())

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
        persona = self.persona
        profile = {"persona": persona.name, "number": self.line_number(persona.name),
                   "created_at": self.clock.now()}

        async def run() -> None:
            if persona.is_set_up:
                raise PinPolicyError(f"The {persona.name} OS is already set up.")
            await asyncio.to_thread(persona.create, pin, duress_pin or None, profile,
                                    self.default_auto_lock)
            if self.network is not None:
                # A new identity: what the key directory still holds for this number (a wiped
                # persona's prekeys, kept across restarts) belongs to keys that no longer exist.
                self.network.forget_keys(self.line_number(persona.name))
            self._save_public_keys(persona)
            log.info("persona %s set up", persona.name)
            self.touch()
            self._start_messenger()
            self.events.emit(SetupCompleted(persona.name))
            self.events.emit(Unlocked(persona.name))

        await self._exclusive("set-up", run)

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
        advice = ("it was left untouched. Remove it to get new numbers (contacts then see "
                  "this phone as a new number)")
        try:
            raw = read_json(path, KeystoreCorrupt, advice)
        except FileNotFoundError:
            raw = {}
        unknown = sorted(set(raw) - {"numbers", "number"})
        if unknown:
            raise KeystoreCorrupt(path, f"unknown key (known: numbers); {advice}",
                                  key=unknown[0])
        # Before two lines the file held one "number": it stays the secure OS's.
        key = "numbers" if "numbers" in raw or "number" not in raw else "number"
        numbers = raw.get("numbers", {"secure": raw["number"]} if "number" in raw else {})
        if not isinstance(numbers, dict) or set(numbers) - set(PERSONAS) or not all(
                isinstance(value, str) and SIM_NUMBER.fullmatch(value)
                for value in numbers.values()):
            raise KeystoreCorrupt(path, "expected a phone number (digits, spaces, a leading +) "
                                        f"for each of {', '.join(PERSONAS)}; {advice}", key=key)
        if len(set(numbers.values())) < len(numbers):
            raise KeystoreCorrupt(path, f"both OSes have the number {numbers['secure']}, and "
                                        f"each needs its own line; {advice}", key=key)
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

    def _save_public_keys(self, persona: Persona, keys: IdentityKeys | None = None) -> None:
        """Keep the new persona's public prekey bundle beside its keystore, so the network can
        offer it (and contacts can write) before the persona is unlocked in this run. Public
        material only: it is what the key directory publishes anyway."""
        from phone_tui.crypto.identity import raw_public

        keys = keys or persona.identity_keys(self.clock.now())
        one_time = {str(key_id): raw_public(key.public_key()).hex()
                    for key_id, key in keys.opks.items()}
        atomic_write(persona.folder / "public.json", json.dumps(
            {"bundle": keys.bundle().encode().hex(), "one_time": one_time}).encode())

    def _refresh_public_keys(self, keys: IdentityKeys) -> None:
        """Rewrite public.json when its bundle is not the unlocked persona's current one (saved
        before XEdDSA, or before a signed-prekey rotation). A damaged one is left as it is."""
        path = self.persona.folder / "public.json"
        try:
            saved: bytes | None = _read_public_keys(path)[0]
        except FileNotFoundError:
            saved = None
        except KeystoreCorrupt as problem:
            log.warning("%s; left untouched", problem)
            return
        if saved != keys.bundle().encode():
            self._save_public_keys(self.persona, keys)

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
                bundle, one_time = _read_public_keys(path)
            except KeystoreCorrupt as problem:
                # Only public material the persona makes again when it is next unlocked; the
                # file is kept as it is until then.
                log.warning("%s; persona %s publishes its keys at its next unlock", problem,
                            name)
                continue
            if b'"identity_sign"' in bundle:
                # Saved before XEdDSA: contacts would refuse it. Rewritten at the next unlock.
                log.info("public keys of persona %s are in the old format; published at unlock",
                         name)
                continue
            self.network.publish_keys(number, bundle, one_time)

    # ---- the cellular link ---------------------------------------------------------------------

    def attach(self, network: Network, profiles: dict[str, LinkProfile]) -> Modem:
        """Put both lines on ``network``: the running OS's registers with the configured profile
        and airplane mode; the other's stays off, so the network holds its messages."""
        self.profiles = profiles
        self.network = network
        profile = profiles.get(self.settings.link_profile) or profiles["lte"]
        cells = getattr(network, "cells", None)
        if cells is None:
            from phone_tui.modem.cells import load_cells

            cells = load_cells(profiles=tuple(profiles))
        for name in PERSONAS:
            number = self.line_number(name)
            self.identities[name] = line_identity(number, self.device, cells)
            modem = network.attach(
                number, profile, powered=False, identity=self.identities[name],
                on_message=lambda envelope, name=name: self._on_message(name, envelope),
                on_state=lambda *state, name=name: self._on_message_state(name, *state))
            modem.airplane = self.settings.airplane
            modem.on_cc = lambda envelope, name=name: self._cc_without_calls(name, envelope)
            modem.batch = lambda name=name: self._store_batch(name)
            modem.on_sms = lambda envelope, name=name: self._on_sms(name, envelope)
            modem.listeners.append(self._on_modem_change)
            self.modems[name] = modem
        modem = self.modems[self.running]
        modem.set_powered(True)
        self.reselect()
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
        self.reselect()
        state = self._link_state()
        if state != self._registration:
            self._registration = state
            self.events.emit(RegistrationChanged(self.persona.name, *state))

    # ---- cells and Network security ------------------------------------------------------------

    def radio_settings(self) -> RadioSettings | None:
        """Settings > Network security as the running OS applies them (its policy holds what
        its user may not change); None for an OS without a radio policy."""
        policy = self.persona_info.radio
        if policy is None:
            return None
        return policy.effective(RadioSettings(self.settings.allow_2g,
                                              self.settings.notify_unencrypted))

    def radio_user_settings(self) -> tuple[str, ...]:
        """The Network security settings the running OS's user may change ("allow_2g"...)."""
        policy = self.persona_info.radio
        return policy.user_settings if policy is not None else ()

    def set_radio_setting(self, name: str, on: bool) -> None:
        """Change ``allow_2g`` or ``notify_unencrypted`` (kept in settings.toml) where the
        running OS's policy lets its user; the radio chooses its cell again at once."""
        if name not in ("allow_2g", "notify_unencrypted"):
            raise PinPolicyError(f"Unknown network security setting {name!r}.")
        if name not in self.radio_user_settings():
            raise PinPolicyError("This setting is set by the OS's policy.")
        self.remember(**{name: on})
        self.events.emit(SettingChanged(self.persona.name, name, on))
        self.reselect()

    def set_allow_2g(self, on: bool) -> None:
        """Allow 2G on or off (the flow action ``allow_2g``)."""
        self.set_radio_setting("allow_2g", on)

    @property
    def camped(self) -> Cell | None:
        """The cell the running OS's line is camped on (None: none, or not attached)."""
        modem = self.modem
        return getattr(modem, "camped", None) if modem is not None else None

    def network_log(self) -> list[CellRefused | NetworkWarning]:
        """The running OS's refusals and warnings, oldest first (the Network app's list)."""
        return list(self.network_security.log.get(self.running, ()))

    def reselect(self) -> None:
        """Run the encounter with the cells around the running line, if anything it depends on
        changed: emit its events, camp, tell the network, and set the link from the cell."""
        modem = self.modem
        policy = self.persona_info.radio
        cells = getattr(modem, "cells", ())
        identity = self.identities.get(self.running)
        settings = self.radio_settings()
        if modem is None or policy is None or not cells or identity is None or settings is None:
            return
        choice = self.network_security.choose(self.running, cells, policy, settings, identity)
        if choice is None:
            return
        camped, previous = choice.camped, modem.camped
        modem.camp(camped, choice.disclosed)
        self._link_from(modem, previous, camped)
        for event in choice.events:
            self.events.emit(event)
        state = self._link_state()
        if state != self._registration:
            self._registration = state
            self.events.emit(RegistrationChanged(self.persona.name, *state))

    def _link_from(self, modem: Modem, previous: Cell | None, cell: Cell | None) -> None:
        """The camped cell sets the link: its profile; back on the first cell, the link it had
        there (the configured one, or what the presenter set); on no cell, no service."""
        if self._home_profile is None or (previous is not None
                                          and previous.id == self._home_cell):
            self._home_profile = modem.profile  # what the link was on the home cell
        if cell is None:
            profile = self.profiles.get("no-service")
        elif not self._home_cell or cell.id == self._home_cell:
            self._home_cell = cell.id
            profile = self._home_profile
        else:
            profile = self.profiles.get(cell.profile)
        if profile is not None and profile is not modem.profile:
            modem.link.profile = profile  # set_profile would call back here
            modem._registration_changed()

    def shown(self, view: str, conversation: str = "") -> None:
        """The UI shows ``view`` now (see ViewShown)."""
        self.events.emit(ViewShown(self.persona.name, view, conversation))

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

    def _store_batch(self, name: str) -> contextlib.AbstractContextManager[object]:
        """A burst of frames for line ``name``: one batch of the running messenger (its store
        commits before the network hears "delivered"); spooled frames are kept one by one."""
        if name == self.running and self.messenger is not None and self._catching_up is None:
            return self.messenger.batch()
        return contextlib.nullcontext()

    def _on_message(self, name: str, envelope: Envelope) -> None:
        """A message for one of the lines. Kept (read now, or spooled) or refused: raising
        makes the modem tell the sender "failed" rather than "delivered" (a full spool, a
        failed store), so the sender knows it must send again."""
        if name != self.running:
            # A frame the other OS's line was still receiving as it switched off: it belongs to
            # that persona, whose keys are gone. Keep the ciphertext for its next unlock.
            self._spool_for(self.personas[name], "envelope", sender=envelope.src,
                            data=envelope.encode().hex())
            return
        self.received.append(envelope)
        del self.received[:-256]
        if self.messenger is not None and (self._catching_up is None or envelope.src == "echo"):
            self.messenger.on_envelope(envelope)
        elif envelope.src != "echo":
            # Locked: the keys to read it are not in memory. Keep the ciphertext until unlock.
            # Catching up on the spool: behind it, so nothing overtakes what came earlier.
            self._spool_for(self.persona, "envelope", sender=envelope.src,
                            data=envelope.encode().hex())
            if self.messenger is None and self.persona.is_set_up:
                if envelope.kind is _call_kind():
                    self._ring_locked(envelope)
                else:
                    self.events.emit(MessageWaiting(self.persona.name))

    def _on_sms(self, name: str, envelope: Envelope) -> bytes | None:
        """A plain SMS (or an SMSC's report) for one of the lines; returns a refusal for the
        SMS centre when it is not taken: under an OS without plain SMS (by policy: nothing of
        it is kept), or when it cannot be kept now (the SMSC tries again later)."""
        from phone_tui.handset.spool import SpoolFull
        from phone_tui.modem.sms_pdu import FailureCause, SmsDeliverReport

        if not self.device.personas[name].plain_sms:
            log.info("persona %s refused a plain SMS (no plain SMS by policy)", name)
            return SmsDeliverReport(FailureCause.TPDU_NOT_SUPPORTED).encode()
        persona = self.personas[name]
        if name == self.running and self.texts is not None and self._catching_up is None:
            return self.texts.on_sms(envelope)
        if not persona.is_set_up:
            return SmsDeliverReport(FailureCause.MS_ERROR).encode()
        try:
            # Locked (or catching up on the spool): kept for the next unlock, in order.
            self._spool_for(persona, "envelope", sender=envelope.src,
                            data=envelope.encode().hex())
        except SpoolFull:
            return SmsDeliverReport(FailureCause.MS_ERROR).encode()
        if name == self.running and self.messenger is None:
            self.events.emit(MessageWaiting(persona.name))
        return None

    def send_sms(self, number: str, text: str) -> Text:
        """Send ``text`` to ``number`` as a plain SMS (the carrier reads it). Raises TextError
        under an OS without plain SMS, while locked, or for a text that cannot go."""
        from phone_tui.handset.texts import TextError

        if not self.persona_info.plain_sms:
            raise TextError(f"{self.persona_info.os_name} has no plain SMS (removed by policy).")
        if self.texts is None:
            raise TextError("Unlock the phone to send a text.")
        return self.texts.send(number, text)

    def _on_message_state(self, name: str, msg_id: bytes, state: str, reason: str) -> None:
        if name == self.running:
            self.events.emit(MessageStateChanged(name, msg_id, state, reason))
        if name == self.running and self.messenger is not None:
            self.messenger.on_state(msg_id, state, reason)
            return
        from phone_tui.handset.spool import SpoolFull

        try:
            self._spool_for(self.personas[name], "state", msg_id=msg_id.hex(), state=state,
                            reason=reason)
        except SpoolFull:  # a report cannot be refused: this one is not kept
            log.info("persona %s: a delivery state was not kept: the spool is full", name)

    @staticmethod
    def _spool_for(persona: Persona, kind: str, *, sender: str | None = None,
                   **fields: str) -> None:
        if persona.is_set_up:
            persona.spool(kind, sender=sender, **fields)

    # ---- switching OS --------------------------------------------------------------------------

    def switch_persona(self, name: str) -> None:
        """Lock the running OS (its keys leave memory), switch its line off and run ``name``,
        which comes up locked (or at first-run setup). Its line registers; the network then
        delivers what it held."""
        if name not in self.personas:
            raise PinPolicyError(f"Unknown OS {name!r} (known: {', '.join(PERSONAS)}).")
        if name == self.running:
            return
        if self._operations:
            what = {"unlock": "An unlock", "set-up": "The setup"}.get(
                self._pending or "", "A PIN change")
            raise HandsetBusy(f"{what} is running on "
                              f"{self.device.personas[self.running].os_name}: switch OS when "
                              "it has finished.")
        previous = self.running
        self.lock("switch")
        self.received.clear()
        old = self.modems.get(previous)
        self.running = name
        self.touch()
        log.info("switched from persona %s to persona %s", previous, name)
        self.events.emit(PersonaSwitched(name, previous))
        new = self.modems.get(name)
        if old is not None and new is not None:
            # The same radio: the link profile and airplane mode carry over.
            new.airplane = old.airplane
            new.link.profile = old.profile
            old.set_powered(False)
            new.set_powered(True)

    # ---- the messenger (while unlocked and attached) -------------------------------------------

    def _start_calls(self, messenger: Messenger) -> None:
        from phone_tui.handset.calls import CallService, stream_media_factory

        factory = (self.media_factory(messenger) if self.media_factory is not None
                   else stream_media_factory(messenger.modem, self._call_audio()))
        self.calls = CallService(messenger, media_factory=factory, codec=self.call_codec)
        # Unlocked for a call that rang the lock screen: the offer the spool replays rings as
        # it did there (number only). Any other unlock reads it afresh: the lock screen's
        # ringing gives way to the call the replay rings, if it still does.
        self.calls.locked_ring = self._answering_locked
        self.calls.may_verify_contact = lambda: not self.answering_locked
        pending = self._locked_setup  # a carrier call ringing the lock screen rings on here
        self._stop_locked_ring("")
        # Plain carrier calls only where this OS's policy has them (device.toml plain_calls).
        self.calls.plain_calls = self.persona_info.plain_calls
        modem = self.modem
        if modem is not None and hasattr(modem, "on_voice"):
            modem.on_voice = self.calls.on_voice
            modem.on_cc = self.calls.on_cc
        if pending is not None:
            self.calls.on_cc(pending)

    def _call_audio(self) -> CallAudio | None:
        from dataclasses import replace

        return None if self.audio is None else replace(self.audio, owner=self.number)

    def _stop_calls(self) -> None:
        calls, self.calls = self.calls, None
        if calls is not None:
            try:
                calls.close()  # a call under way is hung up (its signal leaves now)
            except Exception:  # noqa: BLE001 - locking goes on whatever the call does
                log.exception("a call did not end cleanly")
        modem = self.modem
        if modem is not None and hasattr(modem, "on_voice"):
            modem.on_voice = None
            modem.on_cc = lambda envelope, name=self.running: self._cc_without_calls(name,
                                                                                    envelope)
        self.relock_after_call = False

    def _start_messenger(self) -> None:
        if self.messenger is not None or self.modem is None or self.network is None \
                or self.persona.store is None:
            return
        from phone_tui.handset.messenger import Messenger

        self.messenger = messenger = Messenger(
            number=self.sim_number, persona=self.persona.name, store=self.persona.store,
            identity=self.persona.identity_keys(self.clock.now()), network=self.network,
            modem=self.modem, entropy=self.entropy, clock=self.clock, events=self.events,
            save_identity=self.persona.save_identity)
        for contact in self.seeds():
            if self.messenger.contact(contact.number) is None:
                self.messenger.add_contact(contact.number, contact.name, bot=contact.bot)
        self.messenger.publish_keys()
        self._refresh_public_keys(self.messenger.identity)
        self._start_texts()
        self._start_calls(messenger)  # before the spool replays: it may hold call signalling
        self._catch_up(messenger)

    def _start_texts(self) -> None:
        if not self.persona_info.plain_sms or self.persona.store is None or self.modem is None:
            self.texts = None
            return
        from phone_tui.handset.texts import Texts

        self.texts = Texts(persona=self.persona.name, store=self.persona.store,
                           modem=self.modem, clock=self.clock, events=self.events)

    def seeds(self) -> list[SeedContact]:
        """The contacts every persona starts with (and the bots among them), loaded the first
        time they are asked for when ``load_seed_contacts`` is set."""
        if self.load_seed_contacts is not None:
            load, self.load_seed_contacts = self.load_seed_contacts, None
            self.seed_contacts = load()
        return self.seed_contacts

    def _catch_up(self, messenger: Messenger) -> None:
        """Replay what the spool kept while locked, then resume the outbox. On the event loop
        this is a task working in slices (the UI keeps drawing; ``caught_up`` waits for it),
        and what arrives meanwhile is spooled behind, so it keeps its order."""
        persona = self.persona
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no event loop (attach() before the app runs): at once
            self._replay_passes(messenger, persona, persona.replay_spool)
            self._finish_catch_up(messenger)
            return

        async def run() -> None:
            try:
                await self._replay_passes_async(messenger, persona)
            finally:
                if self._catching_up is task:
                    self._catching_up = None
            if self.messenger is messenger:
                self._finish_catch_up(messenger)

        task = asyncio.get_running_loop().create_task(run())
        self._catching_up = task

    async def _replay_passes_async(self, messenger: Messenger, persona: Persona) -> None:
        current: Callable[[], bool] = lambda: self.messenger is messenger  # noqa: E731
        handle = self._replay_handler(messenger)
        while current():
            outcome = await persona.spool_file.replay_async(handle, keep_going=current)
            if not self._replay_went_on(persona, outcome):
                return

    def _replay_passes(self, messenger: Messenger, persona: Persona,
                       replay: Callable[[Callable[[SpoolRecord], None]], SpoolReplay]) -> None:
        handle = self._replay_handler(messenger)
        while self._replay_went_on(persona, replay(handle)):
            pass

    @staticmethod
    def _replay_went_on(persona: Persona, outcome: SpoolReplay) -> bool:
        """Log a pass; True if another is due (entries may have been spooled behind it)."""
        if outcome.rejected:
            log.warning("persona %s: %d spooled entr%s set aside in %s", persona.name,
                        outcome.rejected, "y" if outcome.rejected == 1 else "ies",
                        persona.rejected_spool_path)
        return not (outcome.halted or outcome.kept) and bool(outcome.handled or outcome.rejected)

    def _replay_handler(self, messenger: Messenger) -> Callable[[SpoolRecord], None]:
        from phone_tui.handset.messenger import is_store_failure
        from phone_tui.handset.spool import ReplayHalted, SpooledState, SpoolError
        from phone_tui.modem.frames import PHONE_TO_PHONE, Envelope, EnvelopeKind

        def handle(record: SpoolRecord) -> None:
            # Entries come typed and shape-checked; one that still raises is set aside, but a
            # failure of this phone's own store stops the replay with the entry kept.
            try:
                if isinstance(record, SpooledState):
                    messenger.on_state(record.msg_id, record.state, record.reason)
                    return
                envelope = Envelope.decode(record.data)
                if envelope.kind is EnvelopeKind.SMS and self.texts is not None:
                    self.texts.on_sms(envelope)  # a plain SMS that came while locked
                    return
                if envelope.kind not in PHONE_TO_PHONE:
                    raise SpoolError("key 'data' is not a message envelope")
                messenger.on_envelope(envelope)
            except Exception as problem:
                if is_store_failure(problem):
                    raise ReplayHalted from problem
                raise

        return handle

    @staticmethod
    def _finish_catch_up(messenger: Messenger) -> None:
        messenger.expire()
        messenger.resume_outbox()

    async def caught_up(self) -> None:
        """Wait until the spool replayed at the last unlock is done (at once if it is)."""
        task = self._catching_up
        if task is not None:
            await asyncio.shield(task)

    # ---- PIN operations: one at a time, each on the persona it was asked for -----------------

    def _exclusive(self, what: str, work: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """Run ``work`` after every PIN operation asked for before it, under the lock, so a
        throttle check, its attempt and the failure it records are one step. The operation
        counts as pending from this call on (no OS switch until it ends), and a caller that
        gives up (a view closed mid-unlock) does not cancel it: an attempt that reached
        Argon2id is always counted."""
        self._operations += 1
        if self._pending is None:
            self._pending = what

        async def run() -> T:
            try:
                async with self._busy:
                    self._pending = what
                    return await work()
            finally:
                self._operations -= 1
                if not self._operations:
                    self._pending = None
                    reason, self._lock_after = self._lock_after, None
                    if reason is not None:
                        self.lock(reason)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._operation_done)
        return asyncio.shield(task)

    def _operation_done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its caller may have gone (the error reached it if not)

    async def operations_done(self) -> None:
        """Wait until every PIN operation asked for so far has ended (its callers may not)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @staticmethod
    def _check_throttle(persona: Persona, now: float) -> None:
        wait = persona.throttle.wait(now)
        if wait > 0:
            raise Throttled(wait)

    async def unlock(self, pin: str) -> UnlockOutcome:
        """Try a PIN. Raises Throttled while a wait runs and WrongPin (with what is left) on a
        wrong PIN; returns DURESS after a silent wipe, UNLOCKED on success."""
        persona = self.persona

        async def run() -> UnlockOutcome:
            self._check_throttle(persona, self.clock.now())
            outcome = await asyncio.to_thread(persona.try_unlock, pin)
            if outcome is UnlockOutcome.UNLOCKED:
                persona.throttle.reset()
                log.info("persona %s unlocked", persona.name)
                self.touch()
                self._start_messenger()
                self.events.emit(Unlocked(persona.name))
            elif outcome is UnlockOutcome.DURESS:
                self._wipe(persona, "duress")
            else:
                self._reject_pin(persona)
            return outcome

        outcome = await self._exclusive("unlock", run)
        if outcome is UnlockOutcome.UNLOCKED:
            await self.caught_up()  # the loop keeps running: the replay works in slices
        return outcome

    def _reject_pin(self, persona: Persona) -> None:
        state = persona.throttle.record_failure(self.clock.now())
        wipe_after = persona.wipe_after(self.settings.wipe_after_failures)
        left = wipe_after - state.failures if wipe_after else None
        log.info("wrong PIN for persona %s (%d in a row)", persona.name, state.failures)
        os_name = self.device.personas[persona.name].os_name
        if left is not None and left <= 0:
            self._wipe(persona, "failures")
            raise WrongPin(state.failures, 0, 0, os_name)
        wait = state.wait(self.clock.now())
        self.events.emit(PinRejected(persona.name, state.failures, left, wait))
        raise WrongPin(state.failures, left, wait, os_name)

    def _wipe(self, persona: Persona, reason: str) -> None:
        if persona is self.persona:
            self._stop_calls()
            self.messenger = None  # a replay under way stops, writing nothing more
            if self.texts is not None:
                self.texts.close()
            self.texts = None
            self._catching_up = None
        persona.wipe()
        if reason == "duress":
            # Silent, and no trace: the lines that name this OS (or its number) leave the log,
            # and nothing is written about the wipe.
            from phone_tui.core.logs import forget_lines

            forget_lines((f"persona {persona.name}", self.line_number(persona.name)),
                         self.paths.log_file)
        else:
            log.warning("persona %s wiped", persona.name)
        self.events.emit(Wiped(persona.name, reason))

    def lock(self, reason: str = "user") -> None:
        if self.state is not HandsetState.UNLOCKED:
            self.relock_after_call = False
            return
        if self._operations:
            # A PIN change or check is using the keys in a thread: lock as soon as it ends
            # (a phone open for a call only stays so until then).
            self._lock_after = reason
            return
        # The keys opened for one call are for that call only, however the phone locks.
        self.relock_after_call = False
        self._stop_calls()
        self.messenger = None  # a replay under way stops at its next entry
        if self.texts is not None:
            self.texts.close()
        self.texts = None
        self._catching_up = None
        self._settings_of, self._settings = None, {}  # no reference to the store stays
        self.persona.lock()
        log.info("persona %s locked (%s)", self.persona.name, reason)
        self.events.emit(Locked(self.persona.name, reason))

    async def wipe(self) -> None:
        """Wipe the running persona on the user's request."""
        persona = self.persona

        async def run() -> None:
            self._wipe(persona, "user")

        await self._exclusive("wipe", run)

    async def _verify(self, persona: Persona, pin: str) -> Keystore:
        """(Under the lock.) Check the PIN of the unlocked ``persona``; a wrong one counts as a
        failed attempt, and a duress PIN is only a wrong PIN here: no wipe mid-change."""
        if persona.keystore is None:
            raise PinPolicyError("Unlock the phone first.")
        keystore = persona.keystore
        self._check_throttle(persona, self.clock.now())
        outcome, check = await asyncio.to_thread(
            Keystore.unlock, persona.keystore_path, pin, entropy=self.entropy,
            policy=persona.kdf.policy)
        if check is not None:
            check.close()
        if outcome is not UnlockOutcome.UNLOCKED:
            self._reject_pin(persona)
        persona.throttle.reset()
        return keystore

    async def verify_pin(self, pin: str) -> Keystore:
        """Check the PIN of the unlocked persona before a sensitive change. A wrong one counts
        as a failed attempt (and a duress PIN is only a wrong PIN here: no wipe mid-change)."""
        persona = self.persona
        return await self._exclusive("verify", lambda: self._verify(persona, pin))

    async def set_duress_pin(self, current: str, duress: str) -> None:
        """Set (or replace) the duress PIN after checking the current PIN."""
        check_pin(duress)
        if duress == current:
            raise PinPolicyError("The duress PIN must differ from the PIN.")
        persona = self.persona

        async def run() -> None:
            keystore = await self._verify(persona, current)
            # Argon2id in a thread; the write on the loop, where the messenger also writes
            # the keystore (a used prekey, a rotation): one writer at a time.
            derived = await asyncio.to_thread(keystore.derive_pin, duress)
            keystore.set_duress_pin(duress, derived=derived)
            log.info("duress PIN set for persona %s", persona.name)

        await self._exclusive("duress", run)

    async def wipe_with_pin(self, pin: str) -> None:
        """Wipe the running persona on the user's request, once the PIN is confirmed."""
        persona = self.persona

        async def run() -> None:
            await self._verify(persona, pin)
            self._wipe(persona, "user")

        await self._exclusive("wipe", run)

    async def change_pin(self, current: str, new: str) -> None:
        """Check the current PIN (a wrong one counts as a failed attempt), then re-wrap."""
        check_pin(new)
        persona = self.persona

        async def run() -> None:
            await self._verify(persona, current)
            if new == current:
                raise PinPolicyError("The new PIN is the same as the current one.")
            # Argon2id in a thread; the keystore write and the store's rekey on the loop, where
            # the messenger also uses both: one writer at a time, never inside its transaction.
            keystore = persona.keystore
            if keystore is None:
                raise PinPolicyError("Unlock the phone first.")
            derived = await asyncio.to_thread(keystore.derive_pin, new)
            persona.change_pin(new, derived=derived)
            persona.throttle.reset()
            log.info("PIN changed for persona %s", persona.name)
            self.events.emit(PinChanged(persona.name))

        await self._exclusive("change-pin", run)

    def _open_keystore(self) -> Keystore:
        if self.persona.keystore is None:
            raise PinPolicyError("Unlock the phone first.")
        return self.persona.keystore

    # ---- radios (policy per persona; state in the persona's store) ------------------------------

    # ---- calls ---------------------------------------------------------------------------------

    def _ring_locked(self, envelope: Envelope) -> None:
        """A CALL envelope reached the locked running OS: its clear hint (unauthenticated; it
        only drives this ringing) rings for an offer and stops the ringing for a hangup. The
        envelope itself was spooled: it is read, and acted on, at the next unlock."""
        from phone_tui.handset.calls import NO_ANSWER_S, CallInfo, CallState, CallStateChanged
        from phone_tui.handset.messenger import HINT_RING, HINT_STOP
        from phone_tui.handset.numbers import is_number

        hint, number, persona = envelope.body[:1], envelope.src, self.persona.name
        if not is_number(number):
            return
        current = self.locked_call
        now = self.clock.now()
        quiet = self._quiet_until
        for stale in [n for n, until in quiet.items() if until <= now]:
            del quiet[stale]
        if hint == bytes([HINT_RING]) and number not in quiet and (
                current is None or current.number != number):
            if current is not None:  # a newer ring from another number takes the screen
                self._stop_locked_ring("missed")
            if len(quiet) > MAX_QUIET_NUMBERS:
                quiet.clear()
            self.locked_call = CallInfo("", number, number, "incoming", CallState.RINGING,
                                        started_at=self.clock.now(), locked=True)
            self.events.emit(CallStateChanged(persona, "", number, "incoming", "ringing", ""))
            with contextlib.suppress(RuntimeError):  # no loop: the next hint or unlock ends it
                self._locked_ring_timer = asyncio.get_running_loop().call_later(
                    NO_ANSWER_S, self._stop_locked_ring, "no_answer")
        elif hint == bytes([HINT_STOP]) and current is not None and current.number == number:
            self._stop_locked_ring("missed")

    def _cc_without_calls(self, name: str, envelope: Envelope) -> None:
        """Call control of a plain carrier call for line ``name`` while its calls are not
        running (locked, or the OS not running). A SETUP rings the lock screen of an OS that
        has carrier calls (its ALERTING goes back now: no keys are needed for a carrier call);
        the Secure OS refuses it by policy ("not supported"); a line whose OS is off is absent."""
        from phone_tui.handset.calls import NO_ANSWER_S, CallInfo, CallState, CallStateChanged
        from phone_tui.handset.numbers import is_number
        from phone_tui.modem.cc import CLEARING, Cause, CcError, CcMessage, CcType, decode_cc

        modem = self.modems.get(name)
        try:
            message = decode_cc(envelope.body)
        except CcError:
            return
        if modem is None or not is_number(envelope.src):
            return
        number = envelope.src
        if message.type is CcType.SETUP:
            cause = None
            if not self.device.personas[name].plain_calls:
                cause = Cause.SERVICE_NOT_IMPLEMENTED  # by policy: the caller is told so
            elif name != self.running:
                cause = Cause.SUBSCRIBER_ABSENT  # its OS is not running: unavailable for now
            elif self.locked_call is not None:
                cause = Cause.USER_BUSY
            if cause is not None:
                modem.send_cc(number, CcMessage(CcType.RELEASE, message.ref, cause).encode())
                return
            call_id = str(uuid.UUID(bytes=message.ref))
            self.locked_call = CallInfo(call_id, number, number, "incoming", CallState.RINGING,
                                        started_at=self.clock.now(), locked=True, plain=True,
                                        codec=message.codec)
            self._locked_setup = envelope
            modem.send_cc(number, CcMessage(CcType.ALERTING, message.ref).encode())
            self.events.emit(CallStateChanged(self.persona.name, call_id, number, "incoming",
                                              "ringing", ""))
            with contextlib.suppress(RuntimeError):
                self._locked_ring_timer = asyncio.get_running_loop().call_later(
                    NO_ANSWER_S, self._stop_locked_ring, "no_answer")
        elif message.type in CLEARING and self._locked_setup is not None and (
                decode_cc(self._locked_setup.body).ref == message.ref):
            self._stop_locked_ring("missed")

    def _stop_locked_ring(self, reason: str) -> None:
        from phone_tui.handset.calls import CallStateChanged

        self._locked_setup = None
        current, self.locked_call = self.locked_call, None
        if self._locked_ring_timer is not None:
            self._locked_ring_timer.cancel()
            self._locked_ring_timer = None
        if current is not None and reason:
            if reason in ("no_answer", "declined"):
                # The ring is only the network's word: the same number rings again only
                # after a pause (a forged ring cannot keep the lock screen ringing).
                self._quiet_until[current.number] = self.clock.now() + RING_AGAIN_AFTER_S
            self.events.emit(CallStateChanged(self.persona.name, "", current.number,
                                              "incoming", "ended", reason))

    @property
    def answering_locked(self) -> bool:
        """Open for a call only: unlocked (or unlocking) to answer the call that rang the lock
        screen, or guarded by the auto-lock during a call. The phone locks again when that
        call ends, and shows nothing but the call meanwhile."""
        return self._answering_locked or self.relock_after_call

    async def lift_guard(self, pin: str) -> UnlockOutcome:
        """The PIN opens the rest of the phone during a call that only the call was open for
        (answered on the lock screen, or guarded by the auto-lock). As at the lock screen: the
        throttle applies, a wrong PIN counts, the duress PIN wipes silently. Raises Throttled,
        WrongPin; CallError when there is no call (any more) for it to open the phone over.
        Returns UNLOCKED (the phone stays open after the call) or DURESS."""
        from phone_tui.handset.calls import CallError

        persona = self.persona

        def guarded_call() -> str | None:
            calls = self.calls
            current = calls.current if calls is not None else None
            if current is None or not self.relock_after_call or self._lock_after is not None \
                    or self.state is not HandsetState.UNLOCKED or persona is not self.persona:
                return None
            return current.call_id

        async def run() -> UnlockOutcome:
            call_id = guarded_call()
            if persona.keystore is None or call_id is None:
                raise CallError("The call is over: the phone locks.")
            self._check_throttle(persona, self.clock.now())
            outcome, check = await asyncio.to_thread(
                Keystore.unlock, persona.keystore_path, pin, entropy=self.entropy,
                policy=persona.kdf.policy)
            if check is not None:
                check.close()
            if outcome is UnlockOutcome.DURESS:
                self._wipe(persona, "duress")
                return outcome
            if outcome is not UnlockOutcome.UNLOCKED:
                self._reject_pin(persona)
            persona.throttle.reset()
            # The check and the update in one step: the call may have ended while Argon2id
            # ran (its lock waits for this check), and then there is nothing left to open.
            if guarded_call() != call_id:
                raise CallError("The call ended while the PIN was checked: the phone locks.")
            self.relock_after_call = False
            if self.calls is not None:
                self.calls.locked_ring = False  # the next call rings an open phone
            self.touch()
            log.info("persona %s opened during a call", persona.name)
            self.events.emit(GuardLifted(persona.name))
            return outcome

        return await self._exclusive("unlock", run)

    def decline_locked(self) -> None:
        """Silence the call ringing on the lock screen (the caller hears it ring on until it
        gives up: the keys to answer "declined" are not in memory); a missed call later. A
        carrier call needs no keys: the switch is told at once."""
        current, modem = self.locked_call, self.modem
        if current is not None and current.plain and modem is not None:
            from phone_tui.modem.cc import Cause, CcMessage, CcType

            modem.send_cc(current.number, CcMessage(CcType.DISCONNECT,
                                                    uuid.UUID(current.call_id).bytes,
                                                    Cause.CALL_REJECTED).encode())
        self._stop_locked_ring("declined")

    async def answer_locked(self, pin: str) -> UnlockOutcome:
        """Answer the call ringing on the lock screen: the PIN opens the keys for the call only
        (the throttle applies as at any unlock), the spool replays (the offer decrypts), the
        call is answered, and the phone locks again when it ends. Raises WrongPin, Throttled;
        CallError when the call is no longer there (the phone locks again)."""
        from phone_tui.handset.calls import CallError, CallState

        ringing = self.locked_call
        if ringing is None:
            raise CallError("No call is ringing.")
        self._answering_locked = True
        try:
            outcome = await self.unlock(pin)
        finally:
            self._answering_locked = False
        if outcome is not UnlockOutcome.UNLOCKED:
            return outcome
        if self.state is not HandsetState.UNLOCKED:
            # Locked again meanwhile (Ctrl+L, auto-lock, an OS switch): nothing to answer.
            raise CallError("The phone locked before the call was answered.")
        self.relock_after_call = True
        calls = self.calls
        current = calls.current if calls is not None else None
        if calls is None or current is None or current.number != ringing.number or (
                current.state is not CallState.RINGING or current.direction != "incoming"):
            self.lock("call")
            raise CallError("No call was found: it ended before it was answered, or the ring "
                            "was only the network's word (a lock screen rings on the "
                            "carrier's say-so).")
        calls.answer()
        return outcome

    def _on_event(self, event: object) -> None:
        """The phone answered from the lock screen locks again once that call ended."""
        if not self.relock_after_call:
            return  # the usual case: and the lock screen imports nothing of the calls
        from phone_tui.handset.calls import CallStateChanged

        if isinstance(event, CallStateChanged) and event.state == "ended" and (
                self.relock_after_call and event.call_id and event.persona == self.running):
            # The phone stays call-only until the lock itself (it waits for a PIN check
            # under way): nothing else opens in between.
            try:
                asyncio.get_running_loop().call_soon(self._relock)
            except RuntimeError:
                self._relock()

    def _relock(self) -> None:
        # Whatever came meanwhile (a new call ringing in the same burst as the hangup): the
        # keys were opened for that one call. A call ringing now is hung up by the lock, and
        # is a missed call at the next unlock.
        self.lock("call")

    def radio_present(self, radio: str) -> bool:
        """False when this OS's policy removed the radio (the secure OS has none of them)."""
        return radio in RADIOS and radio not in self.persona_info.removed_radios

    def radio_on(self, radio: str) -> bool:
        return self.radio_present(radio) and bool(self._setting(f"radio.{radio}", False))

    def set_radio(self, radio: str, on: bool) -> None:
        if not self.radio_present(radio):
            raise RadioRemoved(f"The {RADIO_NAMES.get(radio, radio)} is not present: removed "
                               f"by the {self.persona_info.os_name} policy.")
        store = self.persona.store
        if store is None:
            raise PinPolicyError("Unlock the phone first.")
        self._put_setting(store, f"radio.{radio}", bool(on))
        self.events.emit(RadioChanged(self.persona.name, radio, bool(on)))

    # ---- persona settings (in the encrypted store) ---------------------------------------------

    def _setting(self, key: str, default: Any) -> Any:
        """A setting of the running OS (``default`` while locked), read from its store once."""
        store = self.persona.store
        if store is None:
            return default
        if self._settings_of is not store:
            self._settings_of, self._settings = store, {}
        if key not in self._settings:
            self._settings[key] = store.get("settings", key, default)
        return self._settings[key]

    def _put_setting(self, store: Any, key: str, value: Any) -> None:
        store.put("settings", key, value)
        if self._settings_of is not store:
            self._settings_of, self._settings = store, {}
        self._settings[key] = value

    @property
    def call_codec(self) -> str:
        """The codec this OS offers on its calls (seeds/codecs.toml; opus-16k by default)."""
        return str(self._setting("call_codec", "opus-16k"))

    def set_call_codec(self, name: str) -> None:
        from phone_tui.media.codecs import load_codecs

        if name not in load_codecs():
            raise PinPolicyError(f"Unknown codec {name!r} (see seeds/codecs.toml).")
        store = self.persona.store
        if store is None:
            raise PinPolicyError("Unlock the phone first.")
        self._put_setting(store, "call_codec", name)
        if self.calls is not None:
            self.calls.codec = name
        self.events.emit(SettingChanged(self.persona.name, "call_codec", name))

    @property
    def auto_lock_seconds(self) -> int:
        if self.persona.store is None:
            return 0
        return self._setting("auto_lock_seconds", self.default_auto_lock)

    def set_auto_lock(self, seconds: int) -> None:
        if seconds not in AUTO_LOCK_CHOICES:
            raise PinPolicyError(f"Auto-lock must be one of {AUTO_LOCK_CHOICES} seconds.")
        store = self.persona.store
        if store is None:
            raise PinPolicyError("Unlock the phone first.")
        self._put_setting(store, "auto_lock_seconds", seconds)
        self.events.emit(SettingChanged(self.persona.name, "auto_lock_seconds", seconds))

    def touch(self) -> None:
        """The user did something: restart the idle timer."""
        self.last_activity = self.clock.now()

    def idle_seconds_left(self) -> float | None:
        timeout = self.auto_lock_seconds
        if self.state is not HandsetState.UNLOCKED or not timeout:
            return None
        if self.relock_after_call:
            return None  # open for the call only: it locks when the call ends
        return max(0.0, timeout - (self.clock.now() - self.last_activity))

    def check_idle(self) -> bool:
        """Lock when the idle timeout has passed; True if it locked. During a call the lock
        would drop the keys and with them the call: the phone is guarded instead (only the
        call is open) and locks fully when the call ends."""
        left = self.idle_seconds_left()
        if left is None or left > 0:
            return False
        if self.calls is not None and self.calls.current is not None:
            self.relock_after_call = True
            log.info("persona %s guarded during a call (idle)", self.persona.name)
            self.events.emit(Guarded(self.persona.name))
            return True
        self.lock("idle")
        return True


def _call_kind() -> object:
    from phone_tui.modem.frames import EnvelopeKind

    return EnvelopeKind.CALL


def _read_public_keys(path: Path) -> tuple[bytes, dict[int, bytes]]:
    """public.json's bundle and one-time prekeys; KeystoreCorrupt names the file and key."""
    raw = read_json(path, KeystoreCorrupt)
    bundle = raw.get("bundle")
    if not isinstance(bundle, str) or not bundle or not HEX.fullmatch(bundle):
        raise KeystoreCorrupt(path, "expected the bundle in hex", key="bundle")
    one_time = raw.get("one_time", {})
    if not isinstance(one_time, dict):
        raise KeystoreCorrupt(path, "expected an object of key id → public key", key="one_time")
    keys = {}
    for key_id, public in one_time.items():
        if not KEY_ID.fullmatch(key_id) or not isinstance(public, str) \
                or len(public) != 64 or not HEX.fullmatch(public):
            raise KeystoreCorrupt(path, "expected a key id and a 32-byte public key in hex",
                                  key=f"one_time.{key_id[:20]}")
        keys[int(key_id)] = bytes.fromhex(public)
    return bytes.fromhex(bundle), keys
