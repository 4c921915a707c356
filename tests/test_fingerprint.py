from __future__ import annotations

import os

import pytest

from phone_tui.crypto.fingerprint import grouped, safety_number

# libsignal's published test vector (fingerprint.rs / NumericFingerprintGeneratorTest).
ALICE = bytes.fromhex("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868")
BOB = bytes.fromhex("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b")
EXPECTED = "300354477692869396892869876765458257569162576843440918079131"


def test_matches_signals_test_vector_from_both_sides():
    assert safety_number("+14152222222", ALICE, "+14153333333", BOB) == EXPECTED
    assert safety_number("+14153333333", BOB, "+14152222222", ALICE) == EXPECTED
    # Raw 32-byte keys and numbers written with spaces give the same digits.
    assert safety_number("+1 415 222 2222", ALICE[1:], "+1 415 333 3333", BOB[1:]) == EXPECTED


def test_a_different_key_or_number_changes_it():
    mitm = b"\x05" + os.urandom(32)
    assert safety_number("+14152222222", ALICE, "+14153333333", mitm) != EXPECTED
    assert safety_number("+14152222223", ALICE, "+14153333333", BOB) != EXPECTED


def test_display_groups_and_bad_keys():
    assert grouped(EXPECTED)[:2] == ["30035", "44776"] and len(grouped(EXPECTED)) == 12
    with pytest.raises(ValueError):
        safety_number("+1", b"short", "+2", BOB)


def test_qr_code_draws_every_module_of_the_symbol():
    import segno

    from phone_tui.ui.widgets.qr import QUIET, qr_lines

    lines = qr_lines(EXPECTED)
    matrix = segno.make(EXPECTED, error="m", micro=False).matrix
    size = len(matrix) + 2 * QUIET
    assert all(len(line) == size for line in lines) and len(lines) == (size + 1) // 2
    drawn = []
    for line in lines:
        drawn.append([0 if c in "█▀" else 1 for c in line])  # drawn = light module
        drawn.append([0 if c in "█▄" else 1 for c in line])
    assert [row[QUIET:-QUIET] for row in drawn[QUIET:QUIET + len(matrix)]] == [
        list(row) for row in matrix]
