"""Text from outside the phone, safe to show in a terminal.

What a phone or the network sends (an SMS body, an intercept record's fields) may hold control
characters (ESC starts a terminal escape: OSC 52 writes the clipboard, CSI clears the screen),
format characters (bidi overrides, zero-width characters) or line separators. :func:`clean`
writes each as a visible escape; the view shows the rest as plain text (never markup).
"""

from __future__ import annotations

import unicodedata

# Bidi controls are format characters (Cf) too; listed for the reader: they could turn a line
# around ("Trojan Source", CVE-2021-42574).
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_HIDDEN = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def clean(text: str, limit: int | None = None, *, body: bool = False) -> str:
    """``text`` safe to show: control, format (bidi, zero-width) and separator characters as
    escapes (``\\n``, ``\\u202e``), at most ``limit`` characters of it read (then ``…``).
    ``body``: a message shown on several lines, as its sender wrote it: a newline stays one
    and a backslash is not doubled (a record's field doubles it, so an escape reads as one)."""
    cut = limit is not None and len(text) > limit
    out: list[str] = []
    for char in text[:limit] if limit is not None else text:
        if char == "\n":
            out.append("\n" if body else "\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif char == "\\" and not body:
            out.append("\\\\")
        elif char in BIDI or unicodedata.category(char) in _HIDDEN:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out) + ("\u2026" if cut else "")
