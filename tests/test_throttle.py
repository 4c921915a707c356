from __future__ import annotations

import pytest

from phone_tui.crypto.throttle import DAY, Throttle, ThrottleState, gatekeeper_timeout
from phone_tui.errors import KeystoreCorrupt


@pytest.mark.parametrize(("failures", "seconds"), [
    (0, 0), (1, 0), (4, 0), (5, 30), (6, 0), (9, 0), (10, 30), (29, 30), (30, 30), (39, 30),
    (40, 60), (50, 120), (139, 30 * 2**10), (140, DAY), (10_000, DAY),
])
def test_gatekeeper_schedule(failures, seconds):
    assert gatekeeper_timeout(failures) == seconds


def test_wrong_pin_five_times_imposes_30s_wait_that_survives_a_restart(tmp_path):
    throttle = Throttle(tmp_path / "throttle.json")
    for i in range(5):
        state = throttle.record_failure(1000.0 + i)
    assert state.wait(1004.0) == 30
    reopened = Throttle(tmp_path / "throttle.json").load()
    assert reopened.failures == 5
    assert reopened.wait(1014.0) == 20
    assert reopened.wait(1034.0) == 0


def test_clock_set_backwards_restarts_the_wait_rather_than_skipping_it():
    state = ThrottleState(failures=5, last_failure=1000.0)
    assert state.wait(500.0) == 30


def test_reset_clears_the_counter(tmp_path):
    throttle = Throttle(tmp_path / "throttle.json")
    throttle.record_failure(1.0)
    throttle.reset()
    assert throttle.load() == ThrottleState()


@pytest.mark.parametrize("content", [b"{", b"[]", b'{"failures": -1, "last_failure": 0}',
                                     b'{"failures": "3", "last_failure": 0}', b"\xff\xfe"])
def test_damaged_counter_is_an_error_naming_the_file_and_is_not_overwritten(tmp_path, content):
    path = tmp_path / "throttle.json"
    path.write_bytes(content)
    with pytest.raises(KeystoreCorrupt, match=str(path)):
        Throttle(path).record_failure(1.0)
    assert path.read_bytes() == content


def test_a_failure_stamped_in_the_future_ends_after_one_timeout(tmp_path):
    # A clock set back (or a file saying year 3000) used to restart the wait at every check.
    path = tmp_path / "throttle.json"
    path.write_text('{"failures": 5, "last_failure": 32503680000.0}')
    throttle = Throttle(path)
    assert throttle.wait(1000.0) == 30
    assert throttle.wait(1020.0) == 10
    assert throttle.wait(1030.0) == 0


def test_an_unknown_key_in_the_counter_is_named_and_the_file_kept(tmp_path):
    path = tmp_path / "throttle.json"
    path.write_text('{"failures": 2, "last_failure": 5.0, "x": 2}')
    with pytest.raises(KeystoreCorrupt, match="key 'x'"):
        Throttle(path).load()
    assert path.read_text() == '{"failures": 2, "last_failure": 5.0, "x": 2}'
