"""One property per loader: whatever a file holds (random bytes, random JSON or TOML shapes, deep
nesting, NaN and infinities, wrong types, a valid file with one value swapped), the loader
returns or raises the project's typed error (a PhoneTuiError) naming the file, and a file it
refused is left as it was."""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phone_tui.core.config import Settings, render_settings
from phone_tui.core.resources import seeds_dir, themes_dir
from phone_tui.errors import PhoneTuiError

PROPERTY = settings(max_examples=int(os.environ.get("LOADER_EXAMPLES", "50")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
structures = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
HOSTILE = ["5", "-1", "0", "nan", "inf", "-inf", "1e400", "true", '"x"', '""', "[]", "{}",
           "[1, 2]", '["a"]', "{ a = 1 }", "[" * 3000 + "]" * 3000, "99999999999999999999999"]
HOSTILE_JSON = ["5", "-1", "NaN", "Infinity", "-Infinity", "1e999", "true", "null", '"x"', '""',
                "[]", "{}", "[1, 2]", '["a"]', '{"a": 1}', "[" * 3000 + "]" * 3000,
                "9" * 5000]


def _without_none(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


@st.composite
def toml_mutation(draw: st.DrawFn, base: str) -> bytes:
    """``base`` with some `key = value` lines' values swapped for hostile ones."""
    lines = base.splitlines()
    assignments = [i for i, line in enumerate(lines) if "=" in line
                   and not line.lstrip().startswith("#")]
    for _ in range(draw(st.integers(1, 3))):
        if not assignments:
            break
        index = draw(st.sampled_from(assignments))
        key = lines[index].split("=", 1)[0]
        lines[index] = f"{key}= {draw(st.sampled_from(HOSTILE))}"
    if draw(st.booleans()):
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from(["[x]", "[[x]]", "junk", "a = 1", "= 2",
                                               'rule = 5', "persona = 5"])))
    return "\n".join(lines).encode()


def toml_documents(base: str) -> st.SearchStrategy[bytes]:
    tables = st.dictionaries(st.text(max_size=8), structures, max_size=5).map(_without_none)
    return st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        tables.map(lambda raw: tomli_w.dumps(raw).encode()),
        st.integers(1, 5000).map(lambda n: ("a = " + "[" * n + "]" * n).encode()),
        st.integers(1, 5000).map(lambda n: ("a = " + "{ b = " * n + "1" + " }" * n).encode()),
        toml_mutation(base),
    )


@st.composite
def json_mutation(draw: st.DrawFn, base: dict) -> bytes:
    """``base`` with some values (at any depth) swapped for hostile JSON."""
    text = json.dumps(base)
    for _ in range(draw(st.integers(1, 3))):
        tokens = [i for i, ch in enumerate(text) if ch == ":"]
        if not tokens:
            break
        at = draw(st.sampled_from(tokens)) + 1
        end = at
        depth = 0
        while end < len(text):  # the value after the colon
            ch = text[end]
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            end += 1
        text = text[:at] + " " + draw(st.sampled_from(HOSTILE_JSON)) + text[end:]
    return text.encode()


def json_documents(base: dict) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        structures.map(lambda raw: json.dumps(raw).encode()),
        st.integers(1, 100_000).map(lambda n: ("[" * n + "]" * n).encode()),
        st.integers(1, 100_000).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
        json_mutation(base),
    )


def check(path: Path, data: bytes, load: Callable[[Path], object]) -> object:
    """Write ``data`` to ``path`` and load it: a result, or a PhoneTuiError naming ``path`` and
    the file left as it was. Anything else fails the property."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    try:
        return load(path)
    except PhoneTuiError as problem:
        # One line naming the file; a flow file lists each of its mistakes so, one per line.
        lines = str(problem).split("\n")
        assert len(lines) == len(getattr(problem, "problems", (problem,)))
        assert all(str(path) in line for line in lines)
        assert path.read_bytes() == data
        return None


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("loaders")


def scratch(root: Path) -> Path:
    """A fresh folder per example (under the module's temporary folder)."""
    return Path(tempfile.mkdtemp(dir=root))


# ---- TOML loaders ---------------------------------------------------------------------------

@PROPERTY
@given(toml_documents(render_settings(Settings(profiles={"sat": {
    "latency_ms": 600, "jitter_ms": 10, "loss": 0.01, "down_kbps": 1, "up_kbps": 1}}))))
def test_any_settings_file_loads_or_is_one_config_error(root, data):
    from phone_tui.core.config import load_settings
    from phone_tui.modem.profiles import load_profiles

    def load(path: Path) -> object:
        loaded = load_settings(path)
        return load_profiles(loaded.profiles, path)

    check(scratch(root) / "settings.toml", data, load)


@PROPERTY
@given(toml_documents((themes_dir() / "secure.toml").read_text()))
def test_any_theme_file_loads_or_is_one_theme_error(root, data):
    from phone_tui.ui.themes import load_themes, parse_theme

    folder = scratch(root) / "themes"
    check(folder / "mine.toml", data, parse_theme)
    catalog = load_themes(folder)  # never raises: a bad theme is a notice
    assert "secure" in catalog.themes


@PROPERTY
@given(st.sampled_from(sorted((seeds_dir() / "flows").glob("*.toml"))).flatmap(
    lambda path: toml_documents(path.read_text())))
def test_any_flow_file_loads_or_is_one_flow_error(root, data):
    from phone_tui.flows.model import load_flow

    check(scratch(root) / "flow.toml", data, load_flow)


@PROPERTY
@given(toml_documents((seeds_dir() / "contacts.toml").read_text()))
def test_any_contacts_file_loads_or_is_one_config_error(root, data):
    from phone_tui.handset.contacts import load_contacts

    contacts = check(scratch(root) / "contacts.toml", data, load_contacts)
    for contact in contacts or []:
        assert math.isfinite(contact.reply_delay) and math.isfinite(contact.read_delay)
        contact.reply_to("status report")


@PROPERTY
@given(toml_documents((seeds_dir() / "device.toml").read_text()))
def test_any_device_file_loads_or_is_one_config_error(root, data):
    from phone_tui.handset.device import load_device

    check(scratch(root) / "device.toml", data, load_device)


@PROPERTY
@given(toml_documents((seeds_dir() / "cells.toml").read_text()))
def test_any_cells_file_loads_or_is_one_config_error(root, data):
    from phone_tui.modem.cells import load_cells

    network = check(scratch(root) / "cells.toml", data, load_cells)
    for cell in network.cells.values() if network else ():
        assert math.isfinite(cell.signal_dbm) and 0 <= cell.bars <= 4


@PROPERTY
@given(toml_documents((seeds_dir() / "link_profiles.toml").read_text()))
def test_any_link_profiles_file_loads_or_is_one_config_error(root, data):
    from phone_tui.modem.profiles import load_profiles

    profiles = check(scratch(root) / "link_profiles.toml", data,
                     lambda path: load_profiles(shipped=path))
    for profile in (profiles or {}).values():
        assert all(math.isfinite(getattr(profile, name)) for name in (
            "latency_ms", "jitter_ms", "loss", "loss_burst", "down_kbps", "up_kbps"))


@PROPERTY
@given(toml_documents((seeds_dir() / "stage.toml").read_text()))
def test_any_stage_file_loads_or_is_one_config_error(root, data):
    from phone_tui.handset.stage import load_stage_seeds

    check(scratch(root) / "stage.toml", data, load_stage_seeds)


# ---- JSON files phone-tui writes and reads back ----------------------------------------------

@PROPERTY
@given(json_documents({"failures": 12, "last_failure": 1_700_000_000.5}))
def test_any_pin_counter_loads_to_a_finite_wait_or_is_keystore_corrupt(root, data):
    from phone_tui.crypto.throttle import DAY, Throttle

    state = check(scratch(root) / "throttle.json", data, lambda path: Throttle(path).load())
    if state is not None:
        wait = state.wait(1_700_000_100.0)
        assert math.isfinite(wait) and 0 <= wait <= DAY


@PROPERTY
@given(json_documents({"wipe_after_failures": 10}))
def test_any_unlock_policy_loads_or_is_keystore_corrupt(root, data):
    from phone_tui.testing import make_handset

    phone = make_handset(scratch(root))
    persona = phone.personas["secure"]
    check(persona.policy_path, data, lambda path: persona.wipe_after(10))


@PROPERTY
@given(json_documents({"numbers": {"secure": "+86 190 1111 2222",
                                   "open": "+86 190 3333 4444"}}))
def test_any_sim_file_loads_two_distinct_numbers_or_is_keystore_corrupt(root, data):
    from phone_tui.testing import make_handset

    folder = scratch(root)
    phone = make_handset(folder)

    def load(path: Path) -> tuple[str, str]:
        return phone.line_number("secure"), phone.line_number("open")

    numbers = check(folder / "data" / "sim.json", data, load)
    if numbers is not None:
        assert numbers[0] != numbers[1]


@PROPERTY
@given(json_documents({"bundle": "0a0b", "one_time": {"1": "ab" * 32}}))
def test_any_public_key_file_is_published_or_logged_never_raised(root, data):
    from phone_tui.handset.handset import _read_public_keys
    from phone_tui.modem.bus import Bus
    from phone_tui.modem.profiles import load_profiles
    from phone_tui.testing import make_handset

    folder = scratch(root)
    phone = make_handset(folder)
    path = phone.personas["secure"].folder / "public.json"
    check(path, data, _read_public_keys)
    phone.attach(Bus(random.Random(7)), load_profiles())  # a damaged file is a log line
    assert path.read_bytes() == data


@PROPERTY
@given(json_documents({"trainee": "ann", "attempts": [
    {"flow": "train-first-unlock", "title": "First unlock", "steps": 4, "steps_done": 4,
     "seconds": 80.5, "hints": 1, "mistakes": ["step 2: x"], "finished": True,
     "at": 1_700_000_000.0}]}))
def test_any_training_results_file_reports_or_is_one_progress_error(root, data):
    from phone_tui.flows.training import report

    folder = scratch(root) / "training"
    for fmt in ("table", "csv", "md"):
        check(folder / "ann.json", data, lambda path, fmt=fmt: report(path.parent, fmt))
