"""ZRTP-style key agreement: commitments, derived keys and the two SAS words."""

from __future__ import annotations

import pytest

from phone_tui.crypto import pgp_words
from phone_tui.crypto.zrtp import (
    CallSecrets,
    ZrtpError,
    agree,
    commitment,
    commitment_matches,
    derive,
    ephemeral_from,
    public_bytes,
    sas_words,
)

CALL = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_the_pgp_word_lists_hold_the_published_words():
    assert len(pgp_words.EVEN) == len(pgp_words.ODD) == 256
    assert len(set(pgp_words.EVEN) | set(pgp_words.ODD)) == 512
    assert pgp_words.even_word(0x00) == "aardvark"
    assert pgp_words.odd_word(0x00) == "adroitness"
    assert pgp_words.even_word(0x01) == "absurd"
    assert pgp_words.odd_word(0x01) == "adviser"
    assert pgp_words.even_word(0xFF) == "Zulu"
    assert pgp_words.odd_word(0xFF) == "Yucatan"
    assert pgp_words.even_word(0xE5) == "topmost"
    assert pgp_words.odd_word(0x82) == "Istanbul"
    assert pgp_words.words(bytes([0xE5, 0x82, 0x94])) == ("topmost", "Istanbul", "Pluto")


def test_the_sas_is_an_even_word_then_an_odd_word():
    assert sas_words(b"\x00\x00") == ("aardvark", "adroitness")
    assert sas_words(b"\xff\xff") == ("Zulu", "Yucatan")
    with pytest.raises(ZrtpError):
        sas_words(b"\x00")


def key(n: int):
    return ephemeral_from(bytes([n]) * 32)


def side(caller_id, callee_id, caller_eph, callee_eph, *, as_caller: bool) -> CallSecrets:
    """What one side derives, from its own private key and what it received."""
    if as_caller:
        shared = agree(caller_eph, public_bytes(callee_eph))
    else:
        shared = agree(callee_eph, public_bytes(caller_eph))
    return derive(shared, call_id=CALL, caller_identity=caller_id, callee_identity=callee_id,
                  caller_ephemeral=public_bytes(caller_eph),
                  callee_ephemeral=public_bytes(callee_eph))


ALICE, BOB, MALLORY = b"\xaa" * 32, b"\xbb" * 32, b"\xcc" * 32


def test_both_sides_derive_the_same_keys_and_words():
    a_eph, b_eph = key(1), key(2)
    caller = side(ALICE, BOB, a_eph, b_eph, as_caller=True)
    callee = side(ALICE, BOB, a_eph, b_eph, as_caller=False)
    assert caller == callee
    assert caller.words == sas_words(caller.sas)
    mine, theirs = caller.for_side(caller=True), callee.for_side(caller=False)
    assert (mine.send_key, mine.send_salt, mine.send_ssrc) == (
        theirs.recv_key, theirs.recv_salt, theirs.recv_ssrc)
    assert (mine.recv_key, mine.recv_ssrc) == (theirs.send_key, theirs.send_ssrc)
    assert mine.send_key != mine.recv_key and mine.send_ssrc != mine.recv_ssrc
    assert len(mine.send_key) == 32 and len(mine.send_salt) == 12
    assert "send_key" not in repr(mine) and mine.send_key.hex() not in repr(caller)


def test_a_man_in_the_middle_with_his_own_keys_on_each_leg_gives_different_words():
    a_eph, b_eph, m1, m2 = key(1), key(2), key(3), key(4)
    # Alice talks to Mallory posing as Bob; Bob to Mallory posing as Alice.
    alice_leg = side(ALICE, MALLORY, a_eph, m1, as_caller=True)
    bob_leg = side(MALLORY, BOB, m2, b_eph, as_caller=False)
    assert alice_leg.words != bob_leg.words or alice_leg.sas != bob_leg.sas
    assert alice_leg.caller.key != bob_leg.caller.key


@pytest.mark.parametrize("change", ["caller_identity", "callee_identity", "caller_ephemeral",
                                    "callee_ephemeral", "call_id"])
def test_every_input_is_bound_into_the_keys(change):
    a_eph, b_eph = key(1), key(2)
    shared = agree(a_eph, public_bytes(b_eph))
    inputs = dict(call_id=CALL, caller_identity=ALICE, callee_identity=BOB,
                  caller_ephemeral=public_bytes(a_eph), callee_ephemeral=public_bytes(b_eph))
    base = derive(shared, **inputs)
    inputs[change] = "7c9e6679-7425-40de-944b-e07fc1f90ae7" if change == "call_id" else (
        b"\x11" * 32)
    other = derive(shared, **inputs)
    assert other.caller.key != base.caller.key and other.callee.key != base.callee.key


def test_a_revealed_key_that_is_not_the_committed_one_is_detected():
    a_eph, other = key(1), key(9)
    commit = commitment(CALL, public_bytes(a_eph))
    assert len(commit) == 32
    assert commitment_matches(CALL, commit, public_bytes(a_eph))
    assert not commitment_matches(CALL, commit, public_bytes(other))
    assert not commitment_matches("7c9e6679-7425-40de-944b-e07fc1f90ae7", commit,
                                  public_bytes(a_eph))
    assert not commitment_matches(CALL, commit[:31], public_bytes(a_eph))


def test_unusable_keys_are_refused_with_a_typed_error():
    with pytest.raises(ZrtpError):
        agree(key(1), b"\x00" * 32)  # a low-order point: the all-zero secret
    with pytest.raises(ZrtpError):
        agree(key(1), b"\x01" * 31)
    with pytest.raises(ZrtpError):
        derive(b"\x00" * 32, call_id=CALL, caller_identity=ALICE, callee_identity=BOB,
               caller_ephemeral=ALICE, callee_ephemeral=BOB)
    with pytest.raises(ZrtpError):
        derive(b"\x01" * 32, call_id=CALL, caller_identity=ALICE[:5], callee_identity=BOB,
               caller_ephemeral=ALICE, callee_ephemeral=BOB)
