"""The demo stage's model: several handsets on one emulated network, and the presenter's
controls (link profiles, signal, airplane mode, a bot's message, a man in the middle, reset).

Each handset lives in its own folder under the stage folder and is set up on first use with
the demo PINs from seeds/stage.toml; the next run reuses them. The stage's carrier (key
directory, mailbox, the bots' stores) keeps its state in ``network/`` beside them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from phone_tui.core.clock import Clock
from phone_tui.core.config import Settings, load_settings
from phone_tui.core.documents import read_toml
from phone_tui.core.entropy import DeterministicEntropy, Entropy, SystemEntropy
from phone_tui.core.paths import ensure_private_dir, resolve_paths
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError, PhoneTuiError
from phone_tui.handset.contacts import SeedContact
from phone_tui.handset.device import DeviceInfo
from phone_tui.handset.handset import Handset, HandsetState
from phone_tui.handset.persona import AUTO_LOCK_CHOICES, KdfConfig
from phone_tui.handset.pin_policy import check_pin

if TYPE_CHECKING:
    from collections.abc import Callable

    from phone_tui.handset.bots import Bot
    from phone_tui.handset.interceptor import Interceptor
    from phone_tui.media.audio import CallAudio
    from phone_tui.modem.bus import Bus
    from phone_tui.modem.profiles import LinkProfile

MIN_PHONES, MAX_PHONES = 2, 4
HEAL_AFTER_S = 5.0  # after the carrier steps out, the phones take the real keys back
CARRIER_DIR = "network"


class StageError(PhoneTuiError):
    """A presenter control that cannot act now (the reason says why)."""


@dataclass(frozen=True)
class StagePhone:
    name: str
    pin: str
    open_pin: str


@dataclass(frozen=True)
class ResetStep:
    """Where a reset is, for the presenter: ``text`` ("Wiping phone 2 of 4…") and ``done`` of
    ``total`` steps (``done == total`` when it has finished)."""

    text: str
    done: int
    total: int


OS_LABELS = {"open": "Open OS", "secure": "Secure OS"}


@dataclass(frozen=True)
class StageSeeds:
    phones: tuple[StagePhone, ...]
    injects: tuple[str, ...]
    impostor_text: str
    auto_lock: int = 0  # seconds an unused phone waits before it locks (0 = never)


def load_stage_seeds(path: Path | None = None) -> StageSeeds:
    path = path or seeds_dir() / "stage.toml"
    raw = read_toml(path)
    entries = raw.get("phone")
    if not isinstance(entries, list) or len(entries) < MAX_PHONES:
        raise ConfigError(path, f"expected {MAX_PHONES} [[phone]] tables", key="phone")
    phones = []
    for index, entry in enumerate(entries):
        where = f"phone[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(path, "expected a table", key=where)
        unknown = sorted(set(entry) - {"name", "pin", "open_pin"})
        if unknown:
            raise ConfigError(path, "unknown key (known: name, pin, open_pin; top-level keys "
                              "go above the first [[phone]])", key=f"{where}.{unknown[0]}")
        values = {}
        for key in ("name", "pin", "open_pin"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(path, "expected a non-empty string", key=f"{where}.{key}")
            if key != "name":
                try:
                    check_pin(value)
                except PhoneTuiError as problem:
                    raise ConfigError(path, str(problem), key=f"{where}.{key}") from None
            values[key] = value
        phones.append(StagePhone(**values))
    injects = raw.get("inject", [])
    if not isinstance(injects, list) or not injects or not all(
            isinstance(text, str) and text for text in injects):
        raise ConfigError(path, "expected a list of messages", key="inject")
    impostor = raw.get("impostor_text")
    if not isinstance(impostor, str) or not impostor:
        raise ConfigError(path, "expected a string", key="impostor_text")
    auto_lock = raw.get("auto_lock", 0)
    if isinstance(auto_lock, bool) or auto_lock not in AUTO_LOCK_CHOICES:
        raise ConfigError(path, "expected seconds, one of "
                          f"{', '.join(map(str, AUTO_LOCK_CHOICES))} (0 = never)", key="auto_lock")
    return StageSeeds(tuple(phones), tuple(injects), impostor, auto_lock)


class Stage:
    """2–4 handsets, one clock, one network, the bots; and what a presenter can do to them."""

    def __init__(self, root: Path, count: int, *, clock: Clock, device: DeviceInfo,
                 seeds: StageSeeds, deterministic: bool = False, profile: str | None = None,
                 kdf: KdfConfig | None = None, persist_carrier: bool = True) -> None:
        """``persist_carrier``: the bots keep their state in ``root/network`` (False: in
        memory, for runs that want the same bots' keys every time)."""
        if not MIN_PHONES <= count <= MAX_PHONES:
            raise StageError(f"A stage has {MIN_PHONES} to {MAX_PHONES} handsets, not {count}.")
        self.root = root
        self.carrier_folder = root / CARRIER_DIR if persist_carrier else None
        self.clock = clock
        self.seeds = seeds
        self.phones = seeds.phones[:count]
        self.start_profile = profile
        self.deterministic = deterministic
        self.entropy: Entropy = DeterministicEntropy(100) if deterministic else SystemEntropy()
        self.handsets: list[Handset] = []
        for index in range(count):
            paths = resolve_paths(root / f"phone-{index + 1}")
            settings = load_settings(paths.settings_file) if paths.settings_file.exists() \
                else None
            entropy = DeterministicEntropy(101 + index) if deterministic else SystemEntropy()
            # A presenter talks between taps: the phones do not lock on their own unless
            # seeds/stage.toml says so (each OS's Settings can still set an auto-lock).
            handset = Handset(paths, settings or Settings(), clock=clock,
                              entropy=entropy, device=device, kdf=kdf,
                              auto_lock=seeds.auto_lock)
            if profile:
                handset.settings = replace(handset.settings, link_profile=profile)
            self.handsets.append(handset)
        self.network: Bus | None = None
        self.profiles: dict[str, LinkProfile] = {}
        self.bots: list[Bot] = []
        self.contacts: list[SeedContact] = []
        self.audio: CallAudio | None = None  # real audio on calls (set_audio)
        self._injected = 0
        self._dropped: dict[int, str] = {}  # phone index → profile before its signal dropped
        self.interceptor: Interceptor | None = None  # the carrier in the middle (F9)
        self._intercepted: tuple[int, int] = (0, 0)

    # ---- set-up ------------------------------------------------------------------------------

    async def prepare(self, *, leave_first: bool = False,
                      step: Callable[[int, str], None] | None = None) -> None:
        """Set up, with the demo PINs, every persona not set up yet; leave all locked
        (``leave_first``: phone 1 stays at its first-run setup). ``step(index, persona)`` is
        told before each persona is set up (Argon2id: the slow part)."""
        # Folders an older phone-tui made 0755 become private again.
        ensure_private_dir(self.root)
        for index in range(len(self.handsets)):
            ensure_private_dir(self.root / f"phone-{index + 1}")
        for index, (handset, phone) in enumerate(zip(self.handsets, self.phones, strict=True)):
            if leave_first and index == 0:
                continue
            # The OS its settings boot is set up last, so it is the one left running: the
            # phone starts in the OS it last switched to, as a single phone does.
            booted = handset.running
            pins = sorted((("open", phone.open_pin), ("secure", phone.pin)),
                          key=lambda pair: pair[0] == booted)
            for persona, pin in pins:
                handset.switch_persona(persona)
                if handset.state is HandsetState.SETUP:
                    if step is not None:
                        step(index, persona)
                    await handset.setup(pin)
                handset.lock("stage")

    def set_audio(self, audio: CallAudio | None) -> None:
        """Real audio on calls for every phone and bot of the stage (None: frames that carry
        nothing, as in deterministic runs)."""
        self.audio = audio
        for handset in self.handsets:
            handset.audio = audio

    def attach(self, network: Bus, profiles: dict[str, LinkProfile],
               contacts: list[SeedContact], *, peers: bool = True) -> None:
        """Register every phone on ``network``, each knowing the bots and (``peers``) the other
        phones by their secure OS number; start the bots."""
        from phone_tui.handset.bots import start_bots

        self.network, self.profiles = network, profiles
        if self.audio is not None:
            from phone_tui.media.audio import switch_decoder

            # With audio on, the carrier's switch decodes what it hears of carrier calls.
            network.switch.decoder_factory = switch_decoder
        for index, handset in enumerate(self.handsets):
            peer_contacts = self.peer_contacts(index) if peers else []
            handset.seed_contacts = [*contacts, *peer_contacts]
            handset.attach(network, profiles)
            # A stage run after one that left the carrier's keys on the phones (a script
            # killed while it was in the middle): each phone takes the real ones back when it
            # unlocks.
            handset.events.listen(lambda event, index=index: self._unlocked(index, event))
        self.contacts = list(contacts)
        self.bots = start_bots(contacts, network, profiles["full"], self.entropy, self.clock,
                               folder=self.carrier_folder, audio=self.audio is not None)

    def peer_contacts(self, index: int) -> list[SeedContact]:
        """Phone ``index``'s contacts for the other phones: both lines of each ("Director
        Wang", his Secure OS; "Director Wang, Open OS"), so a phone on either OS can write to
        one on either OS by name (a message to a line whose OS is not running waits)."""
        return [SeedContact(name=phone.name if persona == "secure"
                            else f"{phone.name}, {OS_LABELS[persona]}",
                            number=other.line_number(persona))
                for other_index, (other, phone) in
                enumerate(zip(self.handsets, self.phones, strict=True)) if other_index != index
                for persona in ("secure", "open")]

    def _unlocked(self, index: int, event: object) -> None:
        from phone_tui.handset.events import Unlocked

        if isinstance(event, Unlocked):
            self.forget_planted_keys(index)

    def name_directory(self) -> dict[str, str]:
        """What the carrier knows of each number it serves, as under real-name registration:
        number (without spaces) → the subscriber's name. Each phone's two lines ("Minister
        Li" for the secure OS, "Minister Li, Open OS") and the contacts attached (the bots)."""
        names = {contact.number.replace(" ", ""): contact.name for contact in self.contacts}
        for handset, phone in zip(self.handsets, self.phones, strict=True):
            for persona in ("open", "secure"):
                name = phone.name if persona == "secure" else f"{phone.name}, {OS_LABELS[persona]}"
                names[handset.line_number(persona).replace(" ", "")] = name
        return names

    def close(self) -> None:
        """The demo quits: the bots close their stores, the carrier keeps its mailbox."""
        self.stop_intercepting()
        for bot in self.bots:
            bot.close()
        self.bots = []
        if self.network is not None:
            self.network.close()

    def name_of(self, index: int) -> str:
        return self.phones[index].name

    def _handset(self, index: int) -> Handset:
        if not 0 <= index < len(self.handsets):
            raise StageError(f"There is no phone {index + 1} on this stage.")
        return self.handsets[index]

    # ---- presenter controls ------------------------------------------------------------------

    def set_profile(self, name: str, index: int | None = None) -> None:
        """Emulate link profile ``name`` on one phone, or on all of them."""
        if name not in self.profiles:
            raise StageError(f"Unknown link profile {name!r} (known: {', '.join(self.profiles)}).")
        for i in range(len(self.handsets)) if index is None else [index]:
            self._dropped.pop(i, None)
            self._handset(i).set_link_profile(name)

    def toggle_signal(self, index: int) -> bool:
        """Drop one phone's signal (as in a lift or a shielded room), or give it back; True
        when it has signal afterwards."""
        handset = self._handset(index)
        if handset.modem is None:
            raise StageError("The phone is not on the network yet.")
        if index in self._dropped:
            handset.set_link_profile(self._dropped.pop(index))
            return True
        self._dropped[index] = handset.modem.profile.name
        handset.set_link_profile("no-service")
        return False

    def toggle_airplane(self, index: int) -> bool:
        """Airplane mode on one phone, or off again; True when it is on afterwards."""
        handset = self._handset(index)
        if handset.modem is None:
            raise StageError("The phone is not on the network yet.")
        on = not handset.modem.airplane
        handset.set_airplane(on)
        return on

    def fake_cell(self, index: int, on: bool | None = None) -> bool:
        """Switch the fake base station (seeds/cells.toml, imsi-catcher) on next to phone
        ``index`` (both its lines), or off (None: the other way round); True when it is on
        afterwards. The phone chooses its cell again: an OS that allows 2G camps on it."""
        handset = self._handset(index)
        network = self.network
        if network is None or handset.modem is None:
            raise StageError("The phone is not on the network yet.")
        numbers = [modem.number for modem in handset.modems.values()]
        if on is None:
            on = not any(network.fake_cell_near(number) for number in numbers)
        for number in numbers:
            if on:
                network.put_fake_cell(number)
            else:
                network.take_fake_cell(number)
        return on

    def fake_cell_on(self, index: int) -> bool:
        """Whether the fake base station is on next to phone ``index``."""
        handset = self._handset(index)
        network = self.network
        return network is not None and any(network.fake_cell_near(modem.number)
                                           for modem in handset.modems.values())

    def inject(self, index: int) -> str:
        """A bot sends the next stage message to the phone's running OS; returns who sent it."""
        handset = self._handset(index)
        text = self.seeds.injects[self._injected % len(self.seeds.injects)]
        try:
            sender = bot_writes(self.bots, handset.number, text)
        except StageError as problem:
            raise StageError(f"{problem} ({self.name_of(index)}: unlock that phone once "
                             "first).") from None
        self._injected += 1
        return sender

    def call(self, index: int, callee: int | None = None) -> str:
        """Phone ``index`` calls another stage phone (the next one by default) on its running
        OS's number; returns the callee's name."""
        caller = self._handset(index)
        callee = (index + 1) % len(self.handsets) if callee is None else callee
        if callee == index:
            raise StageError("A phone cannot call itself.")
        calls = caller.calls
        if calls is None:
            raise StageError(f"{self.name_of(index)} is locked: unlock it to call.")
        try:
            calls.dial(self._handset(callee).number)
        except PhoneTuiError as problem:
            raise StageError(f"{self.name_of(index)} cannot call: {problem}") from None
        return self.name_of(callee)

    def impersonate(self, index: int, contact: int | None = None) -> str:
        """The carrier puts itself in the middle between phone ``index`` (its running OS's
        line) and another stage phone (the next one by default; its secure line), for good:
        it writes to both from new identity keys (both show a changed safety number), reads
        and passes on what they write to each other, and bridges their calls with its own keys
        on each leg (both connect; the two phones' words differ). Returns the other phone's
        name. ``stop_intercepting`` (or a reset) takes it out again."""
        from phone_tui.handset.interceptor import Interceptor
        from phone_tui.handset.messenger import MessengerError

        victim = self._handset(index)
        contact = (index + 1) % len(self.handsets) if contact is None else contact
        if contact == index:
            raise StageError("A phone cannot be its own contact.")
        if self.network is None:
            raise StageError("The phones are not on the network yet.")
        if self.interceptor is not None:
            raise StageError("The carrier is already in the middle: press F9 again to take it "
                             "out first.")
        other = self._handset(contact)
        first, second = victim.number, other.line_number("secure")
        learn_real_key(self.network, victim, second)
        learn_real_key(self.network, other, first, line=second)
        record = self.audio.record if self.audio is not None else None
        interceptor = Interceptor(self.network, first, second, entropy=self.entropy,
                                  clock=self.clock, record=record)
        try:
            interceptor.write(self.seeds.impostor_text)
        except MessengerError as problem:
            interceptor.close()
            raise StageError(f"The carrier cannot reach both phones: {problem} (unlock each "
                             "phone once first).") from None
        self.interceptor, self._intercepted = interceptor, (index, contact)
        return self.name_of(contact)

    @property
    def intercepted(self) -> tuple[int, int] | None:
        """The two phones the carrier is in the middle of (indexes), or None."""
        return self._intercepted if self.interceptor is not None else None

    def stop_intercepting(self) -> tuple[str, str] | None:
        """Take the carrier out of the middle (a bridged call ends on both phones); returns
        the two phones' names (None: it was not in the middle). The keys the phones learnt
        stay until they accept the real ones again, or a reset."""
        interceptor, pair = self.interceptor, self.intercepted
        self.interceptor = None
        if interceptor is None or pair is None:
            return None
        interceptor.close()
        # Once the hangups it sent (over its own sessions) have reached the phones, they
        # take the real keys back.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for index in pair:
            if loop is None:
                self.forget_planted_keys(index)
            else:
                loop.call_later(HEAL_AFTER_S, self.forget_planted_keys, index)
        return self.name_of(pair[0]), self.name_of(pair[1])

    def forget_planted_keys(self, index: int) -> int:
        """Phone ``index`` (unlocked) takes back the real keys of the other stage phones in
        place of any the carrier planted, and starts afresh with them (sessions with a key
        of the carrier's would reach nothing once it is out of the middle). Not while the
        carrier is in the middle. Returns how many contacts it healed."""
        from phone_tui.crypto.identity import InvalidBundle, PrekeyBundle

        handset = self._handset(index)
        messenger, network = handset.messenger, self.network
        if messenger is None or network is None or self.interceptor is not None:
            return 0
        healed = 0
        for other_index, other in enumerate(self.handsets):
            if other_index == index:
                continue
            for line in {other.line_number(name) for name in other.personas}:
                bundle = network.peek_bundle(line)
                if bundle is None:
                    continue
                try:
                    real = PrekeyBundle.decode(bundle).identity_dh
                except InvalidBundle:
                    continue
                healed += messenger.restore_identity(line, real)
        return healed

    async def reset(self, progress: Callable[[ResetStep], None] | None = None) -> None:
        """Start the demo over: every phone wiped and set up again with its demo PINs (new
        keys, no conversations), back in the secure OS, locked, on the starting profile.
        ``progress`` is told each step as it starts, and once more when all are done."""
        network = self.network
        count = len(self.handsets)
        total = count * (1 + len(OS_LABELS)) + 1
        done = 0

        def report(text: str) -> None:
            nonlocal done
            if progress is not None:
                progress(ResetStep(text, done, total))
            done += 1

        self.stop_intercepting()
        for index in range(count):
            if self.fake_cell_on(index):
                self.fake_cell(index, False)
        for index, handset in enumerate(self.handsets):
            report(f"Wiping phone {index + 1} of {count}…")
            handset.lock("stage")
            for persona in list(handset.personas.values()):
                persona.wipe()
            if network is not None:
                for name in handset.personas:
                    network.forget_keys(handset.line_number(name))
                    network.purge(handset.line_number(name))
            await asyncio.sleep(0)  # let the presenter's screen draw the step
        for bot in self.bots:
            bot.forget_sessions()
        self._dropped.clear()
        self._injected = 0
        await self.prepare(step=lambda index, persona: report(
            f"Setting up phone {index + 1} of {count}: {OS_LABELS[persona]}…"))
        report("Back on the network: publishing keys…")
        for handset in self.handsets:
            handset.publish_saved_keys()
        for handset in self.handsets:
            if handset.modem is not None:
                handset.set_airplane(False)
                profile = self.start_profile or handset.settings.link_profile
                if profile in self.profiles:
                    handset.set_link_profile(profile)
        if network is not None:
            network.tap.clear()
            network.attacker.clear()
        done = total
        report("The stage is ready.")


def bot_writes(bots: list[Bot], number: str, text: str) -> str:
    """The first bot that is not the echo writes ``text`` to ``number``; returns its name."""
    from phone_tui.handset.messenger import MessengerError

    bot = next((bot for bot in bots if not bot.seed.echo), None)
    if bot is None:
        raise StageError("No bot to send from (see seeds/contacts.toml).")
    try:
        bot.messenger.send_text(number, text)
    except MessengerError as problem:
        raise StageError(f"{bot.seed.name} cannot write to {number}: {problem}") from None
    return bot.seed.name


def learn_real_key(network: Bus, handset: Handset, number: str, line: str | None = None) -> None:
    """A phone that has not talked to ``number`` yet learns its real key (from the key
    directory, without using a one-time prekey), as after an earlier conversation, so a
    forgery shows as a changed safety number rather than a first contact. Only while it runs
    unlocked (on ``line``, when given): a locked phone takes a forgery on first use."""
    messenger = handset.messenger
    if messenger is None or messenger.number == number or (
            line is not None and messenger.number != line):
        return
    known = messenger.contact(number)
    bundle = network.peek_bundle(number)
    if (known is None or known.identity is None) and bundle:
        from phone_tui.crypto.identity import PrekeyBundle

        messenger.know_identity(number, PrekeyBundle.decode(bundle).identity_dh)


def carrier_impersonates(network: Bus, victim: Handset, number: str, text: str, *,
                         entropy: Entropy, clock: Clock) -> None:
    """The carrier writes to ``victim`` as ``number`` from a new identity key, once (see
    ``learn_real_key``); ``Stage.impersonate`` stays in the middle for good."""
    from phone_tui.handset.impostor import impersonate
    from phone_tui.handset.messenger import MessengerError

    learn_real_key(network, victim, number)
    try:
        impersonate(network, number, victim.number, text, entropy=entropy, clock=clock)
    except MessengerError as problem:
        raise StageError(f"Cannot reach {victim.number}: {problem} (unlock that phone once "
                         "first).") from None


def remove_stage(root: Path) -> None:
    """``--fresh``: delete the stage folder, only if all it holds is phone-tui's (the
    inventory in core/inventory.py); otherwise name what is foreign and delete nothing."""
    from phone_tui.core.inventory import data_patterns, scan

    patterns = [pattern.removeprefix("demo/") for pattern in data_patterns()
                if pattern.startswith("demo/")]
    found = scan(root, patterns)
    if found.foreign:
        raise StageError(f"{root} holds files phone-tui did not make ({found.foreign[0]}); "
                         "not deleting it.")
    found.delete()

