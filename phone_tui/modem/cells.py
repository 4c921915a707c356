"""Cells, ciphers and the phone's radio policy: which cell a phone camps on, and what it answers.

Sans-IO: the visible cells (``seeds/cells.toml``), the OS's radio policy (``seeds/device.toml``)
and the user's settings go in; a decision comes out as data (the cell camped on, the refusals
and warnings with the text the UI shows). Nothing here sends a frame or emits an event: the
handset turns refusals and warnings into events, the carrier wiring decides who hears what.

Sources: 3GPP TS 43.020 and TS 33.102 (GSM authenticates only the phone; UMTS AKA authenticates
both ends and adds UEA1/UEA2), TS 33.401 (LTE: EEA0 is the null cipher, EEA1 SNOW 3G, EEA2
AES-CTR, EEA3 ZUC), TS 33.501 (5G: NEA0..NEA3; the SUPI travels concealed as a SUCI), TS 24.301
5.4.4 (an identity request may come before any authentication: what IMSI catchers use);
A5/2 was withdrawn in 2006 and A5/1 is broken in practice (Nohl and Paget, 26C3, 2009).
Android's "Allow 2G" (Android 12) and null-cipher / identifier-disclosure notifications
(Android 15, "Mobile network security" in Android 16); EFF Rayhunter's heuristics (2G
downgrade, IMSI requested, null cipher).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from phone_tui.core.documents import is_number, line_in_file, named_tables, read_toml
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError

RATS = ("gsm", "umts", "lte", "nr")
RAT_LABELS = {"gsm": "2G", "umts": "3G", "lte": "LTE", "nr": "5G"}
CIPHERS = {
    "gsm": ("a5/0", "a5/1", "a5/3"),  # A5/2 withdrawn (3GPP, 2006); A5/4 is rare: left out
    "umts": ("uea0", "uea1", "uea2"),  # TS 33.102 6.6: UEA0 none, UEA1 KASUMI, UEA2 SNOW 3G
    "lte": ("eea0", "eea1", "eea2", "eea3"),  # TS 33.401 5.1.3.2
    "nr": ("nea0", "nea1", "nea2", "nea3"),  # TS 33.501 5.11.1.1
}
ALL_CIPHERS = tuple(cipher for ciphers in CIPHERS.values() for cipher in ciphers)
NULL_CIPHERS = ("a5/0", "uea0", "eea0", "nea0")
IDENTITIES = ("imsi", "imei")
# Signal bars from the level in dBm: Android's defaults (GSM RSSI in CellSignalStrengthGsm;
# WCDMA RSCP, LTE RSRP and NR SS-RSRP thresholds in CarrierConfigManager).
BAR_THRESHOLDS = {"gsm": (-107, -103, -97, -89), "umts": (-115, -105, -95, -85),
                  "lte": (-128, -118, -108, -98), "nr": (-110, -90, -80, -65)}
SIGNAL_RANGE = (-140.0, -30.0)  # dBm: below is no signal, above is a transmitter at the ear


@dataclass(frozen=True)
class Cell:
    """One cell a phone can see: its radio technology, cipher and what it can prove."""

    id: str
    name: str
    rat: str
    cipher: str
    authenticates_network: bool
    signal_dbm: float
    profile: str  # the link profile it implies (seeds/link_profiles.toml)
    rogue: bool = False
    asks: tuple[str, ...] = ()  # identities it requests before any authentication
    lure: str = ""  # a rogue's bait: the RAT it first shows itself on ("lte"), then downgrades
    relays_to: str = ""  # the real cell a rogue relays its victims' traffic to

    @property
    def bars(self) -> int:
        """0 to 4, as Android draws them for this RAT."""
        return sum(self.signal_dbm >= level for level in BAR_THRESHOLDS[self.rat])

    @property
    def null_cipher(self) -> bool:
        return self.cipher in NULL_CIPHERS

    @property
    def label(self) -> str:
        """What the status bar shows: 2G, 3G, LTE, 5G."""
        return RAT_LABELS[self.rat]


@dataclass(frozen=True)
class Network:
    """The cells of ``seeds/cells.toml``: the real network's and the fake base stations'."""

    mcc: str
    mnc: str
    cells: dict[str, Cell]
    fake: dict[str, Cell]


@dataclass(frozen=True)
class RadioSettings:
    """The user's Settings → Network security (Android's names)."""

    allow_2g: bool
    notify_unencrypted: bool


@dataclass(frozen=True)
class RadioPolicy:
    """What an OS accepts from the network, and which settings its user may change."""

    rats: tuple[str, ...]
    ciphers: tuple[str, ...]
    identity_before_authentication: bool  # answers a cell that has not authenticated itself
    defaults: RadioSettings
    user_settings: tuple[str, ...]  # the RadioSettings fields the user may change

    def effective(self, settings: RadioSettings | None) -> RadioSettings:
        """``settings`` with what the user may not change held at the policy's defaults."""
        if settings is None:
            return self.defaults
        fixed = {name: getattr(self.defaults, name) for name in RadioSettings.__annotations__
                 if name not in self.user_settings}
        return replace(settings, **fixed)

    def allowed_rats(self, settings: RadioSettings | None) -> tuple[str, ...]:
        allow_2g = self.effective(settings).allow_2g
        return tuple(rat for rat in self.rats if rat != "gsm" or allow_2g)


class Refusal(NamedTuple):
    """Something the phone would not do, with the line the UI shows."""

    kind: str  # downgrade_2g, rat_not_allowed, null_cipher, cipher_not_allowed,
    #            no_network_authentication, identity_request
    cell: str
    text: str


class CellWarning(NamedTuple):
    """Something the phone did and tells the user about (when the user asked to be told)."""

    kind: str  # unencrypted, identity_disclosed
    cell: str
    text: str


class Selection(NamedTuple):
    """The cell camped on (None: no service) and why stronger cells were refused."""

    camped: Cell | None
    refusals: tuple[Refusal, ...]


class Identity(NamedTuple):
    """A line's identities: the SIM's IMSI and the slot's IMEI."""

    imsi: str
    imei: str


class IdentityRequest(NamedTuple):
    """A cell asks for the IMSI or the IMEI (TS 24.008 9.2.10, TS 24.301 8.2.18)."""

    identity: str  # imsi, imei


class CipherModeCommand(NamedTuple):
    """A cell tells the phone which cipher to use from now on (Cipher/Security Mode Command)."""

    cipher: str


class Answer(NamedTuple):
    """What the phone does with one request: ``value`` is what it sent ("" when nothing or a
    concealed identifier), ``refusal`` why it did not, ``warnings`` what it tells the user."""

    accepted: bool
    value: str
    refusal: Refusal | None
    warnings: tuple[CellWarning, ...]


class Encounter(NamedTuple):
    """A phone meeting the visible cells: a rogue's bait first (its identity requests), then
    the choice of cell, then what the camped cell asks (its cipher and identity requests)."""

    selection: Selection
    answers: tuple[tuple[str, Answer], ...]  # (what was asked: "imsi", "cipher a5/0"...)
    before: int = 0  # how many of the answers came before the choice of cell (to the bait)

    def timeline(self) -> tuple[Refusal | CellWarning, ...]:
        """Every refusal and warning, in the order they happened."""
        def of(answers: tuple[tuple[str, Answer], ...]) -> list[Refusal | CellWarning]:
            found: list[Refusal | CellWarning] = []
            for _, one in answers:
                found += [one.refusal] if one.refusal else []
                found += one.warnings
            return found

        return (*of(self.answers[:self.before]), *self.selection.refusals,
                *of(self.answers[self.before:]))

    @property
    def refusals(self) -> tuple[Refusal, ...]:
        return tuple(item for item in self.timeline() if isinstance(item, Refusal))

    @property
    def warnings(self) -> tuple[CellWarning, ...]:
        return tuple(item for item in self.timeline() if isinstance(item, CellWarning))

    @property
    def disclosed(self) -> dict[str, str]:
        """The identities the phone gave away in clear, by kind ("imsi", "imei")."""
        return {asked: one.value for asked, one in self.answers
                if asked in IDENTITIES and one.accepted and one.value}


# Results are NamedTuples, not dataclasses: the module is imported at start-up (the policy is
# checked before the first frame) and a frozen dataclass costs about three times as much to
# create as a class.

# The lines the UI shows, after Android 16's "Mobile network security" and EFF Rayhunter.
TEXTS = {
    "downgrade_2g": "A cell asked this phone to downgrade to 2G — refused",
    "rat_not_allowed": "A {rat} cell is not allowed by this phone's policy — refused",
    "null_cipher": "Unencrypted network — refused",
    "cipher_not_allowed": "Cipher {cipher} is not allowed by this phone's policy — refused",
    "no_network_authentication": "A cell that cannot prove it belongs to the network — refused",
    "identity_request": "Identity request ({identity}) from a cell — refused",
    "unencrypted": "Unencrypted network: calls and texts on this cell can be read",
    "identity_disclosed": "A cell that had not authenticated itself asked for the {identity}",
}


def _text(kind: str, **values: str) -> str:
    return TEXTS[kind].format(**values)


def refusals_for(cell: Cell, policy: RadioPolicy, settings: RadioSettings | None = None
                 ) -> tuple[Refusal, ...]:
    """Every reason ``policy`` (with ``settings``) has not to camp on ``cell``; () if none."""
    found = []
    if cell.rat not in policy.allowed_rats(settings):
        kind = "downgrade_2g" if cell.rat == "gsm" else "rat_not_allowed"
        found.append(Refusal(kind, cell.id, _text(kind, rat=cell.label)))
    if cell.cipher not in policy.ciphers:
        kind = "null_cipher" if cell.null_cipher else "cipher_not_allowed"
        found.append(Refusal(kind, cell.id, _text(kind, cipher=cell.cipher.upper())))
    # From 3G up every phone checks the network's AUTN (TS 33.102 6.3): a cell without the
    # keys fails there. GSM has no such check; a policy that wants it refuses 2G instead.
    if not cell.authenticates_network and cell.rat != "gsm":
        found.append(Refusal("no_network_authentication", cell.id,
                             _text("no_network_authentication")))
    return tuple(found)


def select(cells: tuple[Cell, ...] | list[Cell], policy: RadioPolicy,
           settings: RadioSettings | None = None) -> Selection:
    """The strongest cell the policy accepts, and the refusals of every stronger one. Cells
    rank by signal (a fake base station also broadcasts itself as the preferred layer, so the
    stronger one wins wherever the policy lets it); ties go to the newer RAT, then the id."""
    ranked = sorted(cells, key=lambda c: (-c.signal_dbm, -RATS.index(c.rat), c.id))
    refusals: list[Refusal] = []
    for cell in ranked:
        reasons = refusals_for(cell, policy, settings)
        if not reasons:
            return Selection(cell, tuple(refusals))
        refusals += reasons
    return Selection(None, tuple(refusals))


def answer(request: IdentityRequest | CipherModeCommand, cell: Cell, policy: RadioPolicy,
           settings: RadioSettings | None, identity: Identity) -> Answer:
    """What the phone does when ``cell`` asks ``request``."""
    settings = policy.effective(settings)
    if isinstance(request, CipherModeCommand):
        cipher = request.cipher
        if cipher not in CIPHERS[cell.rat] or cipher not in policy.ciphers:
            kind = "null_cipher" if cipher in NULL_CIPHERS else "cipher_not_allowed"
            return Answer(False, "", Refusal(kind, cell.id, _text(kind, cipher=cipher.upper())),
                          ())
        warnings = (CellWarning("unencrypted", cell.id, _text("unencrypted")),) if (
            cipher in NULL_CIPHERS and settings.notify_unencrypted) else ()
        return Answer(True, cipher, None, warnings)
    kind = request.identity
    shown = kind.upper()
    if not cell.authenticates_network and not policy.identity_before_authentication:
        return Answer(False, "", Refusal("identity_request", cell.id,
                                         _text("identity_request", identity=shown)), ())
    if kind == "imsi" and cell.rat == "nr":
        return Answer(True, "", None, ())  # 5G answers with a SUCI: the IMSI stays concealed
    value = identity.imsi if kind == "imsi" else identity.imei
    warnings = (CellWarning("identity_disclosed", cell.id, _text("identity_disclosed",
                                                              identity=shown)),) if (
        not cell.authenticates_network and settings.notify_unencrypted) else ()
    return Answer(True, value, None, warnings)


def encounter(cells: tuple[Cell, ...] | list[Cell], policy: RadioPolicy,
              settings: RadioSettings | None, identity: Identity) -> Encounter:
    """What happens when a phone meets ``cells``. A rogue with a ``lure`` that is the
    strongest cell the phone may use on that RAT gets its identity requests answered (or
    refused) there, before any authentication, then asks the phone down to its own RAT; the
    phone then camps by ``select``, and the camped cell commands its cipher (and a rogue asks
    whatever it has not had yet)."""
    answers: list[tuple[str, Answer]] = []
    allowed = policy.allowed_rats(settings)
    ranked = sorted(cells, key=lambda c: -c.signal_dbm)
    bait = next((c for c in ranked if c.rogue and c.lure), None)
    if bait is not None and bait.lure in allowed and ranked[0] is bait:
        front = replace(bait, rat=bait.lure, cipher=CIPHERS[bait.lure][0])
        answers += [(kind, answer(IdentityRequest(kind), front, policy, settings, identity))
                    for kind in bait.asks]
    before = len(answers)
    selection = select(cells, policy, settings)
    camped = selection.camped
    if camped is not None:
        answers.append((f"cipher {camped.cipher}", answer(CipherModeCommand(camped.cipher),
                                                          camped, policy, settings, identity)))
        asked = {kind for kind, _ in answers}
        answers += [(kind, answer(IdentityRequest(kind), camped, policy, settings, identity))
                    for kind in camped.asks if kind not in asked]
    return Encounter(selection, tuple(answers), before)


# ---- identities -------------------------------------------------------------------------

def luhn_digit(digits: str) -> str:
    """The Luhn check digit for ``digits`` (ISO/IEC 7812; an IMEI's 15th digit, TS 23.003 6.2)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def derive_identity(number: str, mcc: str, mnc: str, tac: str) -> Identity:
    """A line's IMSI and IMEI, the same for the same number every run. IMSI (TS 23.003 2.2):
    MCC + MNC + an MSIN of 15 − len(MCC + MNC) digits; IMEI (TS 23.003 6.2): the 8-digit TAC,
    a 6-digit serial and the Luhn digit. The MSIN and the serial are drawn from
    ``random.Random`` seeded with the number's digits (a real carrier's IMSI has no relation
    to the MSISDN; a dual-SIM phone has one IMEI per slot, and here each OS's line is one)."""
    import random  # not at start-up: only a phone meeting cells needs its identities

    digits = "".join(char for char in number if char.isdigit())
    msin_len = 15 - len(mcc) - len(mnc)
    msin = "".join(random.Random(f"imsi:{digits}").choices("0123456789", k=msin_len))
    serial = "".join(random.Random(f"imei:{digits}").choices("0123456789", k=6))
    return Identity(mcc + mnc + msin, tac + serial + luhn_digit(tac + serial))


def is_imei(value: str) -> bool:
    return len(value) == 15 and value.isdigit() and luhn_digit(value[:14]) == value[14]


# ---- loaders ----------------------------------------------------------------------------

_CELL_KEYS = ("name", "rat", "cipher", "authenticates_network", "signal_dbm", "profile")
_FAKE_KEYS = ("asks", "lure", "relays_to")


def parse_cell(name: str, raw: dict[str, Any], path: Path, prefix: str, *,
               profiles: tuple[str, ...] | None = None) -> Cell:
    """Validate one [cells.ID] or [fake_cells.ID] table; ConfigError names the file and key."""
    def fail(key: str, message: str) -> ConfigError:
        dotted = f"{prefix}{name}.{key}"
        return ConfigError(path, message, key=dotted, line=line_in_file(path, dotted))

    rogue = prefix == "fake_cells."
    known = (*_CELL_KEYS, *(_FAKE_KEYS if rogue else ()))
    for key in raw:
        if key not in known:
            raise fail(key, f"unknown key (known: {', '.join(known)})")
    for key in _CELL_KEYS:
        if key not in raw:
            raise fail(key, f"missing (every cell gives {', '.join(_CELL_KEYS)})")
    for key in ("name", "profile"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise fail(key, "expected a non-empty string")
    rat = raw["rat"]
    if not isinstance(rat, str) or rat not in RATS:
        raise fail("rat", f"expected one of {', '.join(RATS)}")
    cipher = raw["cipher"]
    if not isinstance(cipher, str) or cipher not in CIPHERS[rat]:
        raise fail("cipher", f"expected a {RAT_LABELS[rat]} cipher: {', '.join(CIPHERS[rat])}")
    authenticates = raw["authenticates_network"]
    if not isinstance(authenticates, bool):
        raise fail("authenticates_network", "expected true or false")
    if authenticates and rat == "gsm":
        raise fail("authenticates_network",
                   "a GSM cell cannot authenticate itself (TS 43.020: only the phone proves "
                   "who it is); set false")
    signal = raw["signal_dbm"]
    low, high = SIGNAL_RANGE
    if not is_number(signal, low, high):
        raise fail("signal_dbm", f"expected a number of dBm from {low:g} to {high:g}, "
                                 f"got {signal!r}")
    if profiles is not None and raw["profile"] not in profiles:
        raise fail("profile", f"unknown link profile (known: {', '.join(profiles)})")
    asks = raw.get("asks", [])
    if not isinstance(asks, list) or any(not isinstance(a, str) or a not in IDENTITIES
                                         for a in asks):
        raise fail("asks", f"expected a list from {', '.join(IDENTITIES)}")
    lure = raw.get("lure", "")
    if not isinstance(lure, str) or lure not in ("", *RATS):
        raise fail("lure", f"expected one of {', '.join(RATS)}")
    relays_to = raw.get("relays_to", "")
    if not isinstance(relays_to, str):
        raise fail("relays_to", "expected the id of a cell in [cells]")
    return Cell(name, raw["name"], rat, cipher, authenticates, float(signal), raw["profile"],
                rogue, tuple(dict.fromkeys(asks)), lure, relays_to)


def load_cells(path: Path | None = None, *, profiles: tuple[str, ...] | None = None) -> Network:
    """seeds/cells.toml (or a file of that shape): the PLMN, [cells.ID] and [fake_cells.ID].
    ``profiles``: the link profile names a cell may imply (default: the shipped ones)."""
    path = path or seeds_dir() / "cells.toml"
    raw = read_toml(path)

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(path, message, key=key, line=line_in_file(path, key))

    for key in raw:
        if key not in ("mcc", "mnc", "cells", "fake_cells"):
            raise fail(key, "unknown key (known: mcc, mnc, cells, fake_cells)")
    for key, lengths in (("mcc", (3,)), ("mnc", (2, 3))):
        value = raw.get(key)
        if not isinstance(value, str) or not value.isdigit() or len(value) not in lengths \
                or not value.isascii():
            raise fail(key, f"expected a string of {' or '.join(map(str, lengths))} digits")
    if profiles is None:
        from phone_tui.modem.profiles import load_profiles

        profiles = tuple(load_profiles())
    tables = {}
    for section in ("cells", "fake_cells"):
        found = raw.get(section, {})
        if not isinstance(found, dict) or (section == "cells" and not found):
            raise fail(section, f"expected [{section}.ID] tables")
        tables[section] = named_tables(
            section, found, path, None, path,
            lambda name, table, where, prefix: parse_cell(name, table, where, prefix,
                                                          profiles=profiles))
    clash = sorted(set(tables["cells"]) & set(tables["fake_cells"]))
    if clash:
        raise fail(f"fake_cells.{clash[0]}", "the same id as a real cell")
    for cell in tables["fake_cells"].values():
        if cell.relays_to and cell.relays_to not in tables["cells"]:
            raise fail(f"fake_cells.{cell.id}.relays_to",
                       f"unknown cell (known: {', '.join(tables['cells'])})")
    return Network(raw["mcc"], raw["mnc"], tables["cells"], tables["fake_cells"])


def parse_radio_policy(raw: object, path: Path, key: str) -> RadioPolicy:
    """Validate one OS's radio policy table (``[persona.NAME.radio]`` in seeds/device.toml);
    ConfigError names the file and the key."""
    def fail(sub: str, message: str) -> ConfigError:
        dotted = f"{key}.{sub}" if sub else key
        return ConfigError(path, message, key=dotted, line=line_in_file(path, dotted))

    if not isinstance(raw, dict):
        raise fail("", "expected a table")
    known = ("rats", "ciphers", "identity_before_authentication", "allow_2g",
             "notify_unencrypted")
    for sub in raw:
        if sub not in known:
            raise fail(sub, f"unknown key (known: {', '.join(known)})")
    for sub in known:
        if sub not in raw:
            raise fail(sub, f"missing (a radio policy gives {', '.join(known)})")
    rats = raw["rats"]
    if not isinstance(rats, list) or not rats or any(
            not isinstance(r, str) or r not in RATS for r in rats):
        raise fail("rats", f"expected a non-empty list from {', '.join(RATS)}")
    ciphers = raw["ciphers"]
    if not isinstance(ciphers, list) or any(
            not isinstance(c, str) or c not in ALL_CIPHERS for c in ciphers):
        raise fail("ciphers", f"expected a list from {', '.join(ALL_CIPHERS)}")
    if not isinstance(raw["identity_before_authentication"], bool):
        raise fail("identity_before_authentication", "expected true or false")
    settings: dict[str, bool] = {}
    user: list[str] = []
    for sub in ("allow_2g", "notify_unencrypted"):
        table = raw[sub]
        if not isinstance(table, dict) or set(table) != {"default", "user"} or not all(
                isinstance(v, bool) for v in table.values()):
            raise fail(sub, "expected { default = true/false, user = true/false } (user: "
                            "whether the user may change it)")
        settings[sub] = table["default"]
        if table["user"]:
            user.append(sub)
    if "gsm" not in rats and (settings["allow_2g"] or "allow_2g" in user):
        raise fail("allow_2g", 'rats has no "gsm": 2G cannot be allowed, by default or by '
                               "the user")
    return RadioPolicy(tuple(dict.fromkeys(rats)), tuple(dict.fromkeys(ciphers)),
                       raw["identity_before_authentication"], RadioSettings(**settings),
                       tuple(user))
