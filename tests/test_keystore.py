from __future__ import annotations

import hashlib
import os
import random
import signal
import stat
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phone_tui.core.entropy import DeterministicEntropy, SystemEntropy
from phone_tui.crypto.keystore import (
    DEFAULT_PARAMS,
    HEADER_SIZE,
    KdfParams,
    KdfPolicy,
    Keystore,
    UnlockOutcome,
    read_header,
)
from phone_tui.errors import (
    KeystoreCorrupt,
    KeystoreDowngrade,
    KeystoreError,
    KeystoreVersionError,
    PinPolicyError,
)
from phone_tui.testing import FAST_KDF

FAST = FAST_KDF.params
POLICY = FAST_KDF.policy
PIN = "482916"
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def make(path: Path, secrets=None, duress=None, entropy=None) -> Keystore:
    return Keystore.create(path, PIN, entropy=entropy or DeterministicEntropy(),
                           secrets=secrets or {"store_key": "ab" * 32}, duress_pin=duress,
                           params=FAST)


def unlock(path: Path, pin: str = PIN):
    return Keystore.unlock(path, pin, entropy=DeterministicEntropy(), policy=POLICY)


def rechecksum(blob: bytes) -> bytes:
    body = blob[:-32]
    return body + hashlib.sha256(body).digest()


def test_round_trip_returns_the_secrets(tmp_path):
    path = tmp_path / "ks.bin"
    make(path, {"store_key": "00" * 32, "note": "ü"})
    outcome, store = unlock(path)
    assert outcome is UnlockOutcome.UNLOCKED
    assert store.secrets == {"store_key": "00" * 32, "note": "ü"}


def test_file_is_owner_only_and_holds_no_plaintext(tmp_path):
    path = tmp_path / "ks.bin"
    make(path, {"store_key": "secret-marker-1234"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"secret-marker" not in path.read_bytes()


def test_wrong_pin_is_an_outcome_not_an_exception(tmp_path):
    path = tmp_path / "ks.bin"
    make(path)
    assert unlock(path, "000000") == (UnlockOutcome.WRONG_PIN, None)


def test_duress_pin_is_recognised(tmp_path):
    path = tmp_path / "ks.bin"
    make(path, duress="7391")
    assert unlock(path, "7391")[0] is UnlockOutcome.DURESS
    assert unlock(path, "7392")[0] is UnlockOutcome.WRONG_PIN


def test_without_duress_pin_no_pin_is_duress(tmp_path):
    path = tmp_path / "ks.bin"
    make(path, entropy=SystemEntropy())
    assert unlock(path, "7391")[0] is UnlockOutcome.WRONG_PIN


def test_change_pin_rewraps_the_same_data_key(tmp_path):
    path = tmp_path / "ks.bin"
    store = make(path)
    dek_before = bytes(store._dek)
    salt_before = read_header(path, POLICY).salt
    store.change_pin("551203")
    assert unlock(path)[0] is UnlockOutcome.WRONG_PIN
    outcome, again = unlock(path, "551203")
    assert outcome is UnlockOutcome.UNLOCKED
    assert bytes(again._dek) == dek_before
    assert read_header(path, POLICY).salt == salt_before
    assert again.secrets == store.secrets


def test_change_pin_keeps_duress_and_refuses_the_duress_pin(tmp_path):
    path = tmp_path / "ks.bin"
    store = make(path, duress="7391")
    with pytest.raises(PinPolicyError):
        store.change_pin("7391")
    store.change_pin("551203")
    assert unlock(path, "7391")[0] is UnlockOutcome.DURESS


def test_every_single_bit_flip_is_detected_and_the_file_left_alone(tmp_path):
    path = tmp_path / "ks.bin"
    make(path)
    original = path.read_bytes()
    for bit in range(len(original) * 8):
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        with pytest.raises(KeystoreError):
            unlock(path)
        assert path.read_bytes() == bytes(flipped)


def test_every_truncation_is_detected(tmp_path):
    path = tmp_path / "ks.bin"
    make(path)
    original = path.read_bytes()
    for length in range(len(original)):
        path.write_bytes(original[:length])
        with pytest.raises(KeystoreCorrupt):
            unlock(path)


def test_deliberate_body_change_with_fixed_checksum_fails_authentication(tmp_path):
    path = tmp_path / "ks.bin"
    make(path)
    blob = bytearray(path.read_bytes())
    blob[-40] ^= 0x01  # inside the payload ciphertext
    path.write_bytes(rechecksum(bytes(blob)))
    with pytest.raises(KeystoreCorrupt, match="fail authentication"):
        unlock(path)


def test_header_downgrade_is_refused(tmp_path):
    path = tmp_path / "ks.bin"
    strong = KdfParams(memory_kib=64, iterations=2, lanes=1)
    Keystore.create(path, PIN, entropy=DeterministicEntropy(), secrets={}, params=strong)
    blob = bytearray(path.read_bytes())
    struct.pack_into(">I", blob, 6, 8)  # memory 64 KiB → 8 KiB
    path.write_bytes(rechecksum(bytes(blob)))
    with pytest.raises(KeystoreDowngrade, match="downgrade"):
        Keystore.unlock(path, PIN, entropy=DeterministicEntropy(), policy=KdfPolicy(strong))


def test_header_change_above_policy_fails_as_wrong_pin(tmp_path):
    path = tmp_path / "ks.bin"
    make(path)
    blob = bytearray(path.read_bytes())
    struct.pack_into(">I", blob, 10, 2)  # iterations 1 → 2: authenticated, so it cannot unwrap
    path.write_bytes(rechecksum(bytes(blob)))
    assert unlock(path)[0] is UnlockOutcome.WRONG_PIN


def test_default_policy_refuses_fast_test_parameters(tmp_path):
    path = tmp_path / "ks.bin"
    make(path)
    with pytest.raises(KeystoreDowngrade):
        read_header(path)


def test_unknown_version_is_named(tmp_path):
    path = tmp_path / "ks.bin"
    make(path)
    blob = bytearray(path.read_bytes())
    blob[4] = 9
    path.write_bytes(bytes(blob))
    with pytest.raises(KeystoreVersionError, match=f"{path}.*version 9"):
        unlock(path)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "ks.bin"
    path.write_bytes(b"not a keystore at all" * 10)
    with pytest.raises(KeystoreCorrupt, match=str(path)):
        unlock(path)


def test_default_parameters_are_rfc9106_second_option():
    assert KdfParams(memory_kib=65536, iterations=3, lanes=4) == DEFAULT_PARAMS


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(secrets=st.dictionaries(st.text(max_size=8), st.text(max_size=40), max_size=5),
       pin=st.text(alphabet="0123456789", min_size=4, max_size=16))
def test_property_round_trip(tmp_path, secrets, pin):
    path = tmp_path / "prop.bin"
    Keystore.create(path, pin, entropy=SystemEntropy(), secrets=secrets, params=FAST)
    outcome, store = Keystore.unlock(path, pin, entropy=SystemEntropy(), policy=POLICY)
    assert outcome is UnlockOutcome.UNLOCKED
    assert store.secrets == secrets


@settings(max_examples=200, deadline=None, suppress_health_check=FIXTURE_OK)
@given(blob=st.binary(max_size=400))
def test_property_arbitrary_bytes_never_unlock_or_crash(tmp_path, blob):
    path = tmp_path / "garbage.bin"
    path.write_bytes(blob)
    try:
        outcome, _ = unlock(path)
    except KeystoreError:
        return
    assert outcome is not UnlockOutcome.UNLOCKED


@settings(max_examples=200, deadline=None, suppress_health_check=FIXTURE_OK)
@given(position=st.integers(min_value=HEADER_SIZE, max_value=10_000), value=st.integers(1, 255))
def test_property_any_byte_change_with_fixed_checksum_never_unlocks(tmp_path, position, value):
    path = tmp_path / "ks.bin"
    if not path.exists():
        make(path)
    original = path.read_bytes()
    blob = bytearray(original)
    index = position % (len(blob) - 32)
    blob[index] ^= value
    path.write_bytes(rechecksum(bytes(blob)))
    try:
        outcome, _ = unlock(path)
        assert outcome is not UnlockOutcome.UNLOCKED
    except KeystoreError:
        pass
    finally:
        path.write_bytes(original)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_during_saves_always_leaves_old_or_new_content(tmp_path):
    """A child saves n = 1, 2, 3... in a loop; we SIGKILL it 200 times at random moments."""
    path = tmp_path / "ks.bin"
    store = make(path, {"n": 0})
    rng = random.Random(7)
    last_seen = 0
    for _ in range(200):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: save forever, reporting each completed save
            os.close(read_end)
            try:
                n = last_seen
                while True:
                    n += 1
                    store.update(n=n)
                    os.write(write_end, struct.pack(">I", n))
            finally:
                os._exit(0)
        os.close(write_end)
        time.sleep(rng.uniform(0.0, 0.004))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        reported = b""
        while chunk := os.read(read_end, 4096):
            reported += chunk
        os.close(read_end)
        completed = struct.unpack(f">{len(reported) // 4}I", reported[: len(reported) // 4 * 4])
        last_completed = completed[-1] if completed else last_seen
        outcome, reopened = unlock(path)
        assert outcome is UnlockOutcome.UNLOCKED
        n = reopened.secret("n")
        # Either the last save the child finished, or the one it was in the middle of.
        assert n in (last_completed, last_completed + 1)
        last_seen = n
        store = reopened
    assert last_seen > 0
    assert not list(tmp_path.glob(".ks.bin.*.tmp"))  # stale temp files are cleaned on unlock
