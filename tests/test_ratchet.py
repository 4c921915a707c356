"""X3DH + Double Ratchet: agreement, round trips, disorder, replay, tampering, limits."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phone_tui.core.entropy import DeterministicEntropy, SystemEntropy
from phone_tui.crypto.identity import IdentityKeys, InvalidBundle, PrekeyBundle
from phone_tui.crypto.ratchet import (
    MAX_SKIP,
    PAD_BUCKET,
    DecryptError,
    DuplicateMessage,
    Ratchet,
    RatchetError,
    TooManySkipped,
)
from phone_tui.crypto.x3dh import initiate, respond

E = SystemEntropy()


def session() -> tuple[Ratchet, Ratchet]:
    alice, bob = IdentityKeys.generate(E, 0.0), IdentityKeys.generate(E, 0.0)
    bundle = PrekeyBundle.decode(bob.bundle(opk_id=5).encode())  # as fetched from the network
    sk_a, ad_a, initial = initiate(alice, bundle, E)
    sk_b, ad_b = respond(bob, initial)
    assert sk_a == sk_b and ad_a == ad_b
    assert 5 in bob.opks  # respond() changes nothing: the messenger removes it after a decrypt
    return Ratchet.initiator(sk_a, ad_a, bundle.spk, E), Ratchet.responder(sk_b, ad_b, bob.spk)


def test_x3dh_rejects_a_forged_signed_prekey():
    bob = IdentityKeys.generate(E, 0.0)
    bundle = bob.bundle()
    forged = PrekeyBundle(bundle.identity_dh, bundle.spk_id,
                          IdentityKeys.generate(E, 0.0).bundle().spk, bundle.spk_signature)
    with pytest.raises(InvalidBundle):
        initiate(IdentityKeys.generate(E, 0.0), forged, E)
    with pytest.raises(InvalidBundle):
        PrekeyBundle.decode(b"{not json")


def test_prekeys_refill_and_signed_prekey_rotates_weekly():
    keys = IdentityKeys.generate(E, 0.0)
    assert len(keys.opks) == 100 and not keys.refill(E)
    for key_id in list(keys.opks)[:2]:
        del keys.opks[key_id]
    assert keys.refill(E) and len(keys.opks) == 100
    assert not keys.rotate_signed_prekey(E, 6 * 86400.0)
    old = keys.spk_id
    assert keys.rotate_signed_prekey(E, 7 * 86400.0) and keys.spk_id != old
    again = IdentityKeys.from_secrets(keys.to_secrets())
    assert again.public_dh == keys.public_dh and again.bundle().spk == keys.bundle().spk


def test_round_trips_both_ways_with_ratchet_steps():
    alice, bob = session()
    for i in range(5):
        assert bob.decrypt(*alice.encrypt(f"a{i}".encode()), E) == f"a{i}".encode()
        assert alice.decrypt(*bob.encrypt(f"b{i}".encode()), E) == f"b{i}".encode()


def test_responder_cannot_send_first():
    _, bob = session()
    with pytest.raises(RatchetError):
        bob.encrypt(b"too early")


def test_fifty_each_way_in_shuffled_order():
    alice, bob = session()
    bob.decrypt(*alice.encrypt(b"hello"), E)
    rng = random.Random(3)
    to_bob = [(alice.encrypt(f"a{i}".encode()), f"a{i}") for i in range(50)]
    to_alice = [(bob.encrypt(f"b{i}".encode()), f"b{i}") for i in range(50)]
    rng.shuffle(to_bob)
    rng.shuffle(to_alice)
    for (message, text), (reply, reply_text) in zip(to_bob, to_alice, strict=True):
        assert bob.decrypt(*message, E).decode() == text
        assert alice.decrypt(*reply, E).decode() == reply_text


def test_replay_is_a_duplicate_even_after_later_messages():
    alice, bob = session()
    first = alice.encrypt(b"once")
    bob.decrypt(*first, E)
    with pytest.raises(DuplicateMessage):
        bob.decrypt(*first, E)
    alice.decrypt(*bob.encrypt(b"reply"), E)
    bob.decrypt(*alice.encrypt(b"next chain"), E)
    with pytest.raises(DuplicateMessage):
        bob.decrypt(*first, E)


def test_every_byte_flipped_is_rejected_and_the_state_is_unchanged():
    alice, bob = session()
    bob.decrypt(*alice.encrypt(b"warm up"), E)
    header, ciphertext = alice.encrypt(b"the real one")
    before = bob.to_dict()
    blob = header + ciphertext
    for index in range(len(blob)):
        tampered = bytearray(blob)
        tampered[index] ^= 0x01
        with pytest.raises(RatchetError):
            bob.decrypt(bytes(tampered[:len(header)]), bytes(tampered[len(header):]), E)
        assert bob.to_dict() == before
    assert bob.decrypt(header, ciphertext, E) == b"the real one"


def test_a_jump_past_the_limit_is_refused():
    alice, bob = session()
    bob.decrypt(*alice.encrypt(b"start"), E)
    alice.ns += MAX_SKIP + 1  # as if that many were sent and lost
    with pytest.raises(TooManySkipped):
        bob.decrypt(*alice.encrypt(b"far ahead"), E)


def test_padding_hides_length_within_a_bucket():
    alice, _ = session()
    short = alice.encrypt(b"x")[1]
    longer = alice.encrypt(b"x" * 100)[1]
    assert len(short) == len(longer) == PAD_BUCKET + 16


def test_state_survives_serialization():
    alice, bob = session()
    bob.decrypt(*alice.encrypt(b"one"), E)
    pending = alice.encrypt(b"skipped for now")
    later = alice.encrypt(b"two")
    bob = Ratchet.from_dict(bob.to_dict())
    assert bob.decrypt(*later, E) == b"two"
    assert bob.decrypt(*pending, E) == b"skipped for now"
    alice = Ratchet.from_dict(alice.to_dict())
    assert alice.decrypt(*bob.encrypt(b"three"), E) == b"three"


def test_state_survives_the_binary_form_as_it_does_json():
    alice, bob = session()
    bob.decrypt(*alice.encrypt(b"one"), E)
    for turn in range(5):  # old chains on both sides
        alice.decrypt(*bob.encrypt(b"back %d" % turn), E)
        bob.decrypt(*alice.encrypt(b"forth %d" % turn), E)
    pending = alice.encrypt(b"skipped for now")
    later = alice.encrypt(b"two")
    assert bob.decrypt(*later, E) == b"two"
    for side in (alice, bob):
        again = Ratchet.from_bytes(side.to_bytes())
        assert again.to_dict() == side.to_dict()
        assert again.to_bytes() == side.to_bytes()
    bob = Ratchet.from_bytes(bob.to_bytes())
    assert len(bob.skipped) == 1 and len(bob.old_chains) == 5
    assert bob.decrypt(*pending, E) == b"skipped for now"
    alice = Ratchet.from_bytes(alice.to_bytes())
    assert alice.decrypt(*bob.encrypt(b"three"), E) == b"three"
    assert len(bob.to_bytes()) * 2 < len(json.dumps(bob.to_dict()))


def test_a_damaged_binary_state_is_a_value_error_never_a_state():
    alice, bob = session()
    bob.decrypt(*alice.encrypt(b"one"), E)
    alice.encrypt(b"skipped")
    bob.decrypt(*alice.encrypt(b"two"), E)
    data = bob.to_bytes()
    for end in range(len(data)):  # every truncation
        with pytest.raises(ValueError):
            Ratchet.from_bytes(data[:end])
    for bad in (data + b"\x00", b"\x02" + data[1:]):
        with pytest.raises(ValueError):
            Ratchet.from_bytes(bad)


def test_deterministic_entropy_gives_the_same_session():
    def run():
        entropy = DeterministicEntropy(5)
        a, b = IdentityKeys.generate(entropy, 0.0), IdentityKeys.generate(entropy, 0.0)
        sk, ad, _ = initiate(a, b.bundle(), entropy)
        return Ratchet.initiator(sk, ad, b.bundle().spk, entropy).encrypt(b"same")

    assert run() == run()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=st.binary(max_size=60), ciphertext=st.binary(max_size=400))
def test_fuzzed_input_only_raises_ratchet_errors_and_changes_nothing(header, ciphertext):
    alice, bob = FUZZ_SESSION
    before = bob.to_dict()
    with pytest.raises(RatchetError):
        bob.decrypt(header, ciphertext, E)
    assert bob.to_dict() == before


def _fuzz_session() -> tuple[Ratchet, Ratchet]:
    alice, bob = session()
    bob.decrypt(*alice.encrypt(b"hi"), E)
    return alice, bob


FUZZ_SESSION = _fuzz_session()


def test_decrypt_error_for_truncation():
    alice, bob = session()
    header, ciphertext = alice.encrypt(b"cut")
    with pytest.raises(DecryptError):
        bob.decrypt(header[:-1], ciphertext, E)
    with pytest.raises(DecryptError):
        bob.decrypt(header, ciphertext[:-1], E)


class CountingEntropy:
    def __init__(self) -> None:
        self.draws = 0

    def token_bytes(self, n: int) -> bytes:
        self.draws += 1
        return E.token_bytes(n)


def test_a_frame_that_fails_in_a_dh_step_draws_no_new_ratchet_key():
    """The sending half of a DH ratchet step waits for an authentic message: a frame tried in
    the wrong session (both sides started one at once) costs one exchange, not a key too."""
    alice, bob = session()
    other_alice, other_bob = session()
    bob.decrypt(*alice.encrypt(b"one"), E)
    other_bob.decrypt(*other_alice.encrypt(b"one"), E)
    wrong = other_bob.encrypt(b"for the other session")  # a new ratchet key for alice
    counting = CountingEntropy()
    before = alice.to_dict()
    with pytest.raises(DecryptError):
        alice.decrypt(*wrong, counting)
    assert counting.draws == 0 and alice.to_dict() == before
    assert alice.decrypt(*bob.encrypt(b"right"), counting) == b"right"
    assert counting.draws == 1  # the step, once the message is authentic
    assert bob.decrypt(*alice.encrypt(b"and back"), E) == b"and back"
