"""Cells, ciphers and each OS's radio policy: the loaders' errors, cell selection with and
without a fake base station, the answers to a cell's requests, the lines' IMSI and IMEI."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_damaged_files import cli, copied_seeds, put, refused  # noqa: F401 - cli: a fixture

from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError
from phone_tui.handset.device import load_device
from phone_tui.handset.events import CellCamped, CellRefused, NetworkWarning
from phone_tui.handset.network_security import encounter_events, line_identity
from phone_tui.modem.cells import (
    TEXTS,
    CipherModeCommand,
    Identity,
    IdentityRequest,
    RadioSettings,
    answer,
    derive_identity,
    encounter,
    is_imei,
    load_cells,
    luhn_digit,
    select,
)

NUMBER = "+86 190 1234 5678"
IDENTITY = Identity("460990123456789", "490154203237518")


@pytest.fixture(scope="module")
def device():
    return load_device()


@pytest.fixture(scope="module")
def network():
    return load_cells()


def policy(device, persona):
    return device.personas[persona].radio


def visible(network, fake: bool):
    return [*network.cells.values(), *(network.fake.values() if fake else ())]


# ---- the shipped data ---------------------------------------------------------------------

def test_the_shipped_network_has_every_rat_and_a_fake_base_station(network):
    assert {cell.rat for cell in network.cells.values()} == {"gsm", "umts", "lte", "nr"}
    fake = network.fake["imsi-catcher"]
    real = network.cells[fake.relays_to]
    assert (fake.rat, fake.cipher, fake.authenticates_network, fake.asks) == (
        "gsm", "a5/0", False, ("imsi", "imei"))
    assert fake.rogue and fake.null_cipher and fake.signal_dbm > real.signal_dbm
    assert fake.name == "GovNet"  # it broadcasts the real network's name
    assert not any(cell.rogue for cell in network.cells.values())


def test_only_2g_cells_lack_network_authentication_on_the_real_network(network):
    for cell in network.cells.values():
        assert cell.authenticates_network is (cell.rat != "gsm")


def test_bars_follow_androids_thresholds(network):
    lte = network.cells["lte-1"]
    assert lte.bars == 4 and lte.label == "LTE"
    assert replace(lte, signal_dbm=-120).bars == 1
    assert replace(lte, signal_dbm=-140).bars == 0
    assert replace(lte, rat="gsm", signal_dbm=-100).bars == 2


def test_each_os_has_its_radio_policy(device):
    secure, open_ = policy(device, "secure"), policy(device, "open")
    assert "gsm" not in secure.rats and not set(secure.ciphers) & {"a5/0", "uea0", "eea0", "nea0"}
    assert not secure.identity_before_authentication and secure.user_settings == ()
    assert open_.defaults == RadioSettings(allow_2g=True, notify_unencrypted=False)
    assert set(open_.user_settings) == {"allow_2g", "notify_unencrypted"}


# ---- cell selection -----------------------------------------------------------------------

SELECTION = [
    # persona, allow_2g, fake cell on, camped on, refusal kinds
    ("open", True, False, "lte-1", ()),
    ("open", False, False, "lte-1", ()),
    ("secure", None, False, "lte-1", ()),
    ("open", True, True, "imsi-catcher", ()),
    ("open", False, True, "lte-1", ("downgrade_2g",)),
    ("secure", None, True, "lte-1", ("downgrade_2g", "null_cipher")),
    ("secure", True, True, "lte-1", ("downgrade_2g", "null_cipher")),  # the user cannot
]


@pytest.mark.parametrize(("persona", "allow_2g", "fake", "camped", "kinds"), SELECTION)
def test_a_stronger_rogue_cell_wins_only_where_the_policy_allows_2g(
        device, network, persona, allow_2g, fake, camped, kinds):
    rules = policy(device, persona)
    settings = None if allow_2g is None else replace(rules.defaults, allow_2g=allow_2g)
    chosen = select(visible(network, fake), rules, settings)
    assert chosen.camped is not None and chosen.camped.id == camped
    assert tuple(r.kind for r in chosen.refusals) == kinds
    assert all(r.cell == "imsi-catcher" for r in chosen.refusals)


def test_weaker_cells_the_phone_would_not_choose_anyway_are_not_refusals(device, network):
    # The real 2G cell is weaker than LTE: the Secure OS says nothing about it.
    assert select(visible(network, False), policy(device, "secure")).refusals == ()


def test_with_only_cells_the_policy_refuses_the_phone_has_no_service(device, network):
    cells = [network.cells["gsm-1"], network.fake["imsi-catcher"]]
    chosen = select(cells, policy(device, "secure"))
    assert chosen.camped is None
    assert [r.kind for r in chosen.refusals] == ["downgrade_2g", "null_cipher", "downgrade_2g",
                                                 "cipher_not_allowed"]


def test_a_rogue_lte_cell_without_the_keys_is_refused_by_every_os(device, network):
    rogue = replace(network.cells["lte-1"], id="rogue-lte", authenticates_network=False,
                    signal_dbm=-50, rogue=True)
    for persona in ("secure", "open"):
        chosen = select([*network.cells.values(), rogue], policy(device, persona))
        assert chosen.camped.id == "lte-1"
        assert [r.kind for r in chosen.refusals] == ["no_network_authentication"]


def test_an_lte_null_cipher_is_refused_by_the_secure_os_and_taken_by_the_open_os(device,
                                                                                  network):
    eea0 = replace(network.cells["lte-1"], id="lte-null", cipher="eea0", signal_dbm=-70)
    cells = [*network.cells.values(), eea0]
    secure = select(cells, policy(device, "secure"))
    assert secure.camped.id == "lte-1"
    assert [(r.kind, r.text) for r in secure.refusals] == [
        ("null_cipher", "Unencrypted network — refused")]
    assert select(cells, policy(device, "open")).camped.id == "lte-null"


# ---- what a cell asks ---------------------------------------------------------------------

def test_identity_request_from_a_cell_that_has_not_authenticated_itself(device, network):
    fake = network.fake["imsi-catcher"]
    refused_ = answer(IdentityRequest("imsi"), fake, policy(device, "secure"), None, IDENTITY)
    assert not refused_.accepted and refused_.value == ""
    assert refused_.refusal.kind == "identity_request"
    assert refused_.refusal.text == "Identity request (IMSI) from a cell — refused"
    open_ = policy(device, "open")
    given = answer(IdentityRequest("imei"), fake, open_, None, IDENTITY)
    assert given.accepted and given.value == IDENTITY.imei and given.warnings == ()
    told = answer(IdentityRequest("imsi"), fake, open_,
                  RadioSettings(allow_2g=True, notify_unencrypted=True), IDENTITY)
    assert told.value == IDENTITY.imsi
    assert [w.kind for w in told.warnings] == ["identity_disclosed"]


def test_the_real_network_gets_its_identity_answers_and_5g_keeps_the_imsi_concealed(device,
                                                                                     network):
    secure = policy(device, "secure")
    lte = answer(IdentityRequest("imsi"), network.cells["lte-1"], secure, None, IDENTITY)
    assert lte.accepted and lte.value == IDENTITY.imsi and lte.warnings == ()
    nr = answer(IdentityRequest("imsi"), network.cells["nr-1"], secure, None, IDENTITY)
    assert nr.accepted and nr.value == ""  # a SUCI, not the IMSI (TS 33.501 6.12)


def test_cipher_mode_command_with_a5_0(device, network):
    fake = network.fake["imsi-catcher"]
    command = CipherModeCommand("a5/0")
    no = answer(command, fake, policy(device, "secure"), None, IDENTITY)
    assert not no.accepted and no.refusal.text == "Unencrypted network — refused"
    open_ = policy(device, "open")
    quiet = answer(command, fake, open_, None, IDENTITY)
    assert quiet.accepted and quiet.warnings == ()
    loud = answer(command, fake, open_, RadioSettings(True, True), IDENTITY)
    assert [w.text for w in loud.warnings] == [TEXTS["unencrypted"]]
    # A cipher of another RAT is refused, whatever the policy.
    assert not answer(CipherModeCommand("eea2"), fake, open_, None, IDENTITY).accepted


def test_the_secure_os_meets_the_fake_cell_and_says_why_it_refused(device, network):
    met = encounter(visible(network, True), policy(device, "secure"), None, IDENTITY)
    assert met.selection.camped.id == "lte-1" and met.disclosed == {}
    assert [r.text for r in met.refusals] == [
        "Identity request (IMSI) from a cell — refused",
        "Identity request (IMEI) from a cell — refused",
        "A cell asked this phone to downgrade to 2G — refused",
        "Unencrypted network — refused",
    ]
    events = encounter_events("secure", met)
    assert [type(e) for e in events] == [CellRefused] * 4 + [CellCamped]
    assert events[-1] == CellCamped("secure", "lte-1", "LTE", "eea2", False)


def test_the_open_os_with_allow_2g_on_is_caught_and_gives_away_imsi_and_imei(device, network):
    rules = policy(device, "open")
    met = encounter(visible(network, True), rules, None, IDENTITY)
    assert met.selection.camped.id == "imsi-catcher"
    assert met.disclosed == {"imsi": IDENTITY.imsi, "imei": IDENTITY.imei}
    assert met.refusals == () and met.warnings == ()  # notifications are off by default
    events = encounter_events("open", met)
    assert events == [CellCamped("open", "imsi-catcher", "2G", "a5/0", True)]
    told = encounter(visible(network, True), rules, RadioSettings(True, True), IDENTITY)
    assert [w.kind for w in told.warnings] == ["identity_disclosed", "identity_disclosed",
                                               "unencrypted"]
    assert [type(e) for e in encounter_events("open", told)] == [NetworkWarning] * 3 + [
        CellCamped]


def test_the_open_os_with_allow_2g_off_refuses_the_fake_cell_but_its_lte_bait_got_the_imsi(
        device, network):
    # As EFF notes: turning 2G off keeps calls and SMS off the fake cell, not the IMSI off an
    # LTE IMSI catcher's identity request. Only the Secure OS refuses that too.
    met = encounter(visible(network, True), policy(device, "open"),
                    RadioSettings(allow_2g=False, notify_unencrypted=False), IDENTITY)
    assert met.selection.camped.id == "lte-1"
    assert [r.kind for r in met.refusals] == ["downgrade_2g"]
    assert set(met.disclosed) == {"imsi", "imei"}


def test_without_a_fake_cell_nothing_is_refused_or_disclosed(device, network):
    for persona in ("secure", "open"):
        met = encounter(visible(network, False), policy(device, persona), None, IDENTITY)
        assert met.selection.camped.id == "lte-1"
        assert met.refusals == () and met.warnings == () and met.disclosed == {}


def test_the_refusal_texts_are_androids_and_rayhunters():
    assert TEXTS["downgrade_2g"] == "A cell asked this phone to downgrade to 2G — refused"
    assert TEXTS["identity_request"].format(identity="IMSI") == (
        "Identity request (IMSI) from a cell — refused")
    assert TEXTS["null_cipher"] == "Unencrypted network — refused"


# ---- IMSI and IMEI ------------------------------------------------------------------------

def test_luhn_check_digit():
    assert luhn_digit("49015420323751") == "8"  # the IMEI example of TS 23.003 / Wikipedia
    assert is_imei("490154203237518") and not is_imei("490154203237519")
    assert not is_imei("49015420323751")


def test_a_lines_imsi_and_imei_are_realistic_and_the_same_every_run(device, network):
    one = line_identity(NUMBER, device, network)
    assert one == derive_identity(NUMBER, "460", network.mnc, device.tac)
    assert len(one.imsi) == 15 and one.imsi.isdigit() and one.imsi.startswith("460" + network.mnc)
    assert is_imei(one.imei) and one.imei.startswith(device.tac)
    other = line_identity("+86 190 8765 4321", device, network)
    assert other.imsi != one.imsi and other.imei != one.imei
    three = derive_identity(NUMBER, "310", "410", "35123456")  # a 3-digit MNC
    assert len(three.imsi) == 15 and three.imsi.startswith("310410")


# ---- damaged cells.toml -------------------------------------------------------------------

BASE = """mcc = "460"
mnc = "99"

[cells.lte-1]
name = "GovNet LTE"
rat = "lte"
cipher = "eea2"
authenticates_network = true
signal_dbm = -92
profile = "lte"

[fake_cells.fake]
name = "GovNet"
rat = "gsm"
cipher = "a5/0"
authenticates_network = false
signal_dbm = -58
profile = "edge"
asks = ["imsi"]
relays_to = "lte-1"
"""


def test_the_base_document_loads(tmp_path):
    path = tmp_path / "cells.toml"
    put(path, BASE)
    assert set(load_cells(path).fake) == {"fake"}


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ('rat = "lte"', 'rat = "6g"', "cells.lte-1.rat", "expected one of gsm, umts, lte, nr"),
    ('cipher = "eea2"', 'cipher = "a5/1"', "cells.lte-1.cipher", "expected a LTE cipher"),
    ('cipher = "a5/0"', 'cipher = "a5/2"', "fake_cells.fake.cipher", "expected a 2G cipher"),
    ("signal_dbm = -92", "signal_dbm = nan", "cells.lte-1.signal_dbm", "expected a number"),
    ("signal_dbm = -92", "signal_dbm = -inf", "cells.lte-1.signal_dbm", "expected a number"),
    ("signal_dbm = -92", 'signal_dbm = "-92"', "cells.lte-1.signal_dbm", "expected a number"),
    ("signal_dbm = -92", "signal_dbm = true", "cells.lte-1.signal_dbm", "expected a number"),
    ("signal_dbm = -92", "signal_dbm = 10", "cells.lte-1.signal_dbm", "from -140 to -30"),
    ("authenticates_network = true", 'authenticates_network = "yes"',
     "cells.lte-1.authenticates_network", "expected true or false"),
    ("authenticates_network = false\nsignal_dbm = -58",
     "authenticates_network = true\nsignal_dbm = -58",
     "fake_cells.fake.authenticates_network", "cannot authenticate itself"),
    ('profile = "lte"', 'profile = "warp"', "cells.lte-1.profile", "unknown link profile"),
    ('profile = "lte"', "profile = 4", "cells.lte-1.profile", "expected a non-empty string"),
    ('name = "GovNet LTE"', 'name = "GovNet LTE"\nasks = ["imsi"]', "cells.lte-1.asks",
     "unknown key"),
    ('asks = ["imsi"]', 'asks = ["msisdn"]', "fake_cells.fake.asks", "expected a list"),
    ('relays_to = "lte-1"', 'relays_to = "lte-9"', "fake_cells.fake.relays_to",
     "unknown cell"),
    ("[fake_cells.fake]", "[fake_cells.lte-1]", "fake_cells.lte-1", "the same id"),
    ('mcc = "460"', "mcc = 460", "mcc", "expected a string of 3 digits"),
    ('mnc = "99"', 'mnc = "9"', "mnc", "expected a string of 2 or 3 digits"),
    ('mnc = "99"', 'mnc = "99"\nrogue = true', "rogue", "unknown key"),
])
def test_a_bad_cell_value_is_one_error_naming_file_key_and_line(tmp_path, old, new, key,
                                                                 message):
    path = tmp_path / "cells.toml"
    text = BASE.replace(old, new, 1)
    assert text != BASE
    before = put(path, text)
    with pytest.raises(ConfigError) as caught:
        load_cells(path)
    error = str(caught.value)
    # A value's line is given; a table's (a clashing id) is found by its key.
    line = "" if key.count(".") == 1 and key.startswith("fake_cells") else "line "
    assert error.startswith(f"{path}, {line}") and f"key '{key}'" in error, error
    assert message in error and "\n" not in error
    assert path.read_bytes() == before


def test_a_network_without_cells_is_refused(tmp_path):
    path = tmp_path / "cells.toml"
    put(path, 'mcc = "460"\nmnc = "99"\ncells = 5\n')
    with pytest.raises(ConfigError, match=r"line 3, key 'cells'.*expected \[cells.ID\] tables"):
        load_cells(path)
    put(path, 'mcc = "460"\nmnc = "99"\n')
    with pytest.raises(ConfigError, match=r"key 'cells'"):
        load_cells(path)


def test_a_cell_that_is_not_a_table_names_its_key(tmp_path):
    path = tmp_path / "cells.toml"
    put(path, BASE.replace("[cells.lte-1]\n", "[cells]\nlte-2 = 5\n[cells.lte-1]\n"))
    with pytest.raises(ConfigError, match=r"key 'cells.lte-2'.*expected a table"):
        load_cells(path)


@pytest.mark.parametrize("nested", ["[" * 3000 + "]" * 3000, "{ a = " * 3000 + "1" + " }" * 3000])
def test_deep_nesting_in_cells_toml_is_one_error(tmp_path, nested):
    path = tmp_path / "cells.toml"
    put(path, f"mcc = {nested}\n")
    with pytest.raises(ConfigError) as caught:
        load_cells(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_a_bad_cells_toml_stops_the_app_with_exit_2(cli, tmp_path, monkeypatch):  # noqa: F811
    seeds = copied_seeds(tmp_path, monkeypatch, "phone_tui.modem.cells")
    cells = seeds / "cells.toml"
    text = cells.read_text()
    before = put(cells, text.replace('rat = "umts"', 'rat = "wimax"', 1))
    err = refused(cli("--data-dir", str(tmp_path / "data")), cells, "key 'cells.umts-1.rat'")
    assert "expected one of gsm, umts, lte, nr" in err
    assert cells.read_bytes() == before


# ---- damaged radio policy in device.toml --------------------------------------------------

@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ('rats = ["umts", "lte", "nr"]', 'rats = ["umts", "lte", "wimax"]',
     "persona.secure.radio.rats", "expected a non-empty list"),
    ('ciphers = ["uea2",', 'ciphers = ["rot13",', "persona.secure.radio.ciphers",
     "expected a list from"),
    ("allow_2g = { default = false, user = false }", "allow_2g = { default = true, user = false }",
     "persona.secure.radio.allow_2g", 'rats has no "gsm"'),
    ("allow_2g = { default = false, user = false }", "allow_2g = false",
     "persona.secure.radio.allow_2g", "expected { default"),
    ("identity_before_authentication = false", "identity_before_authentication = 0",
     "persona.secure.radio.identity_before_authentication", "expected true or false"),
    ("identity_before_authentication = false\n", "",
     "persona.secure.radio.identity_before_authentication", "missing"),
    ('tac = "86417503"', 'tac = "8641750"', "tac", "expected a string of 8 digits"),
])
def test_a_bad_radio_policy_is_one_error_naming_file_and_key(tmp_path, old, new, key, message):
    path = tmp_path / "device.toml"
    shipped = (seeds_dir() / "device.toml").read_text()
    text = shipped.replace(old, new, 1)
    assert text != shipped
    put(path, text)
    with pytest.raises(ConfigError) as caught:
        load_device(path)
    error = str(caught.value)
    assert error.startswith(str(path)) and f"key '{key}'" in error, error
    assert message in error and "\n" not in error


def test_a_persona_without_a_radio_policy_is_refused(tmp_path):
    path = tmp_path / "device.toml"
    shipped = (seeds_dir() / "device.toml").read_text()
    put(path, shipped[:shipped.index("# Android's defaults")])
    with pytest.raises(ConfigError, match=r"key 'persona.open.radio'.*missing"):
        load_device(path)



def test_settings_the_policy_does_not_let_the_user_change_stay_at_its_defaults(device):
    secure, open_ = policy(device, "secure"), policy(device, "open")
    loosened = RadioSettings(allow_2g=True, notify_unencrypted=False)
    assert secure.effective(loosened) == secure.defaults
    assert secure.allowed_rats(loosened) == ("umts", "lte", "nr")
    assert open_.effective(loosened) == loosened
    assert open_.allowed_rats(RadioSettings(allow_2g=False, notify_unencrypted=False)) == (
        "umts", "lte", "nr")
    assert open_.effective(None) == open_.defaults
