"""What counts as an acceptable PIN on a government handset."""

from __future__ import annotations

from phone_tui.errors import PinPolicyError

MIN_DIGITS = 4
MAX_DIGITS = 16


def check_pin(pin: str) -> None:
    """Raise PinPolicyError with the reason when ``pin`` is not acceptable."""
    if not pin.isascii() or not pin.isdigit():
        raise PinPolicyError("A PIN is digits only.")
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        raise PinPolicyError(f"A PIN has {MIN_DIGITS} to {MAX_DIGITS} digits.")
    if len(set(pin)) == 1:
        raise PinPolicyError("Too easy to guess: every digit is the same.")
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    if steps in ({1}, {-1}):
        raise PinPolicyError("Too easy to guess: the digits run in sequence.")
