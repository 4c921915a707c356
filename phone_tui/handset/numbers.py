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
