"""What a phone number looks like, as the network writes a sender's.

A sender's number comes from the network (the carrier, or a fake cell, sets it): it is
shown as the name of anyone not in the contacts, so it must be a number and nothing else —
no control characters for the terminal, no newline to forge a second line.
"""

from __future__ import annotations

import re

# A leading +, then digits and spaces; short codes (110, 12345) are numbers too.
NUMBER = re.compile(r"\+?[0-9][0-9 ]{0,30}")


def is_number(value: object) -> bool:
    """``value`` is a phone number as the network writes them ("+86 190 1234 5678")."""
    return isinstance(value, str) and NUMBER.fullmatch(value) is not None


def written(number: str) -> str:
    """``number`` as the phone shows numbers ("+8619047027773" as "+86 190 4702 7773"): an
    international number of 13 digits with no spaces gets the country-code layout; any
    other is shown as it is."""
    digits = number[1:]
    if number.startswith("+") and len(digits) == 13 and digits.isascii() and digits.isdigit():
        return f"+{digits[:2]} {digits[2:5]} {digits[5:9]} {digits[9:]}"
    return number
