"""One identity key, as in Signal: XEdDSA signs the signed prekey (issue 11, item 3)."""

from __future__ import annotations

import json
import logging
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from phone_tui.core.clock import ManualClock
from phone_tui.core.entropy import DeterministicEntropy, SystemEntropy
from phone_tui.crypto.identity import (
    IdentityKeys,
    InvalidBundle,
    PrekeyBundle,
    signed_prekey_message,
    xeddsa_sign,
    xeddsa_verify,
)
from phone_tui.handset.messenger import MessengerError, SessionRecord
from phone_tui.modem.bus import Bus
from phone_tui.modem.profiles import load_profiles
from phone_tui.testing import TEST_PIN, make_handset, set_up

E = SystemEntropy()
PROFILES = load_profiles()


def test_the_identity_key_signs_the_33_byte_signed_prekey():
    keys = IdentityKeys.generate(E, 0.0)
    bundle = PrekeyBundle.decode(keys.bundle().encode())
    assert xeddsa_verify(keys.public_dh, b"\x05" + bundle.spk, bundle.spk_signature)
    assert "identity_sign" not in json.loads(keys.bundle().encode())
    bundle.verify()
    other = IdentityKeys.generate(E, 0.0)
    assert not xeddsa_verify(other.public_dh, b"\x05" + bundle.spk, bundle.spk_signature)


def test_deterministic_keys_stay_deterministic():
    one = IdentityKeys.generate(DeterministicEntropy(7), 0.0)
    two = IdentityKeys.generate(DeterministicEntropy(7), 0.0)
    assert one.to_secrets() == two.to_secrets()


def forged_bundle(real: PrekeyBundle) -> PrekeyBundle:
    """A key directory's own prekey, signed by its own identity key, for a real identity."""
    directory = IdentityKeys.generate(E, 0.0)
    signature = xeddsa_sign(directory.dh, signed_prekey_message(directory.public_spk),
                            E.token_bytes(32))
    return PrekeyBundle(real.identity_dh, real.spk_id, directory.public_spk, signature)


def tampered_bundle(real: PrekeyBundle) -> PrekeyBundle:
    signature = bytearray(real.spk_signature)
    signature[5] ^= 0x20
    return PrekeyBundle(real.identity_dh, real.spk_id, real.spk, bytes(signature))


@pytest.mark.parametrize("forge", [forged_bundle, tampered_bundle])
def test_a_bundle_not_signed_by_its_identity_key_is_refused(tmp_path, forge):
    from test_messenger import Phone

    clock = ManualClock()
    bus = Bus(random.Random(1))
    alice, bob = Phone(bus, "+1", tmp_path, clock), Phone(bus, "+2", tmp_path, clock)
    real = PrekeyBundle.decode(bus.peek_bundle("+2"))
    with pytest.raises(InvalidBundle):
        forge(real).verify()
    bus.publish_keys("+2", forge(real).encode())
    with pytest.raises(MessengerError, match=r"\+2's keys are refused: the signed prekey's "
                                             r"signature does not verify under its identity key"):
        alice.messenger.send_text("+2", "hello")
    contact = alice.messenger.contact("+2")
    assert contact is None or contact.identity is None  # trust did not move
    assert bob.messenger.history("+1") == []


def test_a_bundle_in_the_old_format_is_refused_with_its_reason():
    keys = IdentityKeys.generate(E, 0.0)
    raw = json.loads(keys.bundle().encode())
    raw["identity_sign"] = "00" * 32
    with pytest.raises(InvalidBundle, match="old format"):
        PrekeyBundle.decode(json.dumps(raw).encode())


@pytest.mark.looptime
async def test_every_byte_of_a_first_message_is_authenticated(tmp_path):
    from test_messenger import Phone, envelope_from, first_message

    clock = ManualClock()
    bus = Bus(random.Random(1))
    alice, bob = Phone(bus, "+1", tmp_path, clock), Phone(bus, "+2", tmp_path, clock)
    real = first_message(alice, "hello")
    for position in range(len(real)):
        flipped = bytearray(real)
        flipped[position] ^= 0x04
        bob.messenger.on_envelope(envelope_from("+1", "+2", bytes(flipped)))
    assert bob.messenger.history("+1") == []
    bob.messenger.on_envelope(envelope_from("+1", "+2", real))
    assert [m.body for m in bob.messenger.history("+1")] == ["hello"]


def old_format(secrets: dict) -> dict:
    """``secrets`` as saved before XEdDSA: a second (Ed25519) key, no prekey signature."""
    old = {key: value for key, value in secrets.items() if key != "spk_signature"}
    old["sign"] = E.token_bytes(32).hex()
    return old


def test_session_records_saved_before_xeddsa_still_load(tmp_path):
    from test_messenger import Capture, Phone

    from phone_tui.handset.messenger import decode_sessions

    clock = ManualClock()
    bus = Bus(random.Random(1))
    alice, _bob = Phone(bus, "+1", tmp_path, clock), Phone(bus, "+2", tmp_path, clock)
    alice.messenger.modem = Capture()
    alice.messenger.send_text("+2", "hello")
    (state,) = alice.store.execute("SELECT state FROM sessions WHERE number = '+2'").fetchone()
    # Saved then as JSON (the form older versions write; read the same today).
    data = {"sessions": [record.to_dict() for record in decode_sessions(state)]}
    data["sessions"][0]["initial"]["identity_sign"] = "11" * 32
    record = SessionRecord.from_dict(data["sessions"][0])
    assert record.initial is not None and record.initial.spk_id == 1
    alice.store.execute("UPDATE sessions SET state = ? WHERE number = '+2'",
                        (json.dumps(data),))
    alice.messenger.send_text("+2", "again")  # loads and uses the old record


async def test_an_old_keystore_migrates_keeping_its_identity_and_safety_number(tmp_path, caplog):
    clock = ManualClock()
    bus = Bus(random.Random(1))
    phone = make_handset(tmp_path / "phone", clock=clock)
    phone.attach(bus, PROFILES)
    await set_up(phone, locked=False)
    peer = IdentityKeys.generate(E, 0.0).public_dh
    phone.messenger.know_identity("+9", peer)
    before = phone.messenger.safety_number("+9")
    identity = phone.messenger.identity
    # Turn the persona into one saved before XEdDSA: keystore and public.json.
    phone.persona.keystore.update(identity=old_format(identity.to_secrets()))
    sign = Ed25519PrivateKey.generate()
    old_bundle = dict(json.loads(identity.bundle().encode()))
    old_bundle["identity_sign"] = sign.public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw).hex()
    old_bundle["spk_signature"] = sign.sign(b"old").hex()
    public = phone.persona.folder / "public.json"
    public.write_text(json.dumps({"bundle": json.dumps(old_bundle).encode().hex(),
                                  "one_time": {}}))
    phone.lock()
    # A restart: the old public.json is skipped (logged), not published.
    bus = Bus(random.Random(2))
    phone = make_handset(tmp_path / "phone", clock=clock)
    with caplog.at_level(logging.INFO):
        phone.attach(bus, PROFILES)
    assert not bus.has_keys(phone.number)
    assert "old format" in caplog.text
    await phone.unlock(TEST_PIN)
    assert phone.messenger.identity.public_dh == identity.public_dh
    assert phone.messenger.safety_number("+9") == before
    stored = phone.persona.keystore.secrets["identity"]
    assert "sign" not in stored and stored["spk_signature"]
    published = PrekeyBundle.decode(bus.peek_bundle(phone.number))
    published.verify()
    rewritten = bytes.fromhex(json.loads(public.read_text())["bundle"])
    PrekeyBundle.decode(rewritten).verify()


async def test_a_phone_draining_the_key_directory_cannot_grow_the_keystore_without_end(tmp_path):
    from phone_tui.crypto.identity import MAX_ONE_TIME_KEPT

    clock = ManualClock()
    bus = Bus(random.Random(1))
    phone = make_handset(tmp_path, clock=clock)
    phone.attach(bus, load_profiles())
    await set_up(phone, locked=False)
    sizes = []
    for _ in range(30):
        while bus.fetch_keys(phone.number)[1] is not None:  # a hostile phone drains the pool
            pass
        phone.messenger.maintain()
        sizes.append(phone.persona.keystore_path.stat().st_size)
    keys = phone.messenger.identity
    assert len(keys.opks) == MAX_ONE_TIME_KEPT
    assert sizes[-1] < 1.05 * sizes[10]  # flat once the cap is reached (ids grow a digit)
    # The newest ones are kept (they are the ones the directory offers now).
    assert min(keys.opks) == keys.next_id - MAX_ONE_TIME_KEPT
