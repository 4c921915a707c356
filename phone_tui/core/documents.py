"""Reading a TOML or JSON document that may be damaged: a dict, or one typed error naming the file.

Every loader reads through here, then checks its own keys and types. Whatever the bytes (not
UTF-8, bad syntax, nesting deep enough to exhaust the stack, NaN, a list where an object goes),
the caller gets a ``PhoneTuiError`` subclass it chose, never a traceback; nothing is written.
A missing file is the caller's business: ``read_json`` lets ``FileNotFoundError`` through.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phone_tui.errors import ConfigError, PhoneTuiError

# ConfigError, ThemeError, FlowError, KeystoreCorrupt...: (path, message, *, key=, line=).
ErrorType = Callable[..., PhoneTuiError]


def read_text(path: Path, error: ErrorType = ConfigError) -> str:
    """A UTF-8 text file's contents; every failure is ``error`` naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(path, "not UTF-8 text") from None
    except MemoryError:
        raise error(path, "too large to read") from None
    except OSError as exc:
        raise error(path, f"cannot read: {exc.strerror or exc}") from None


def decode_toml(text: str, path: Path, error: ErrorType = ConfigError) -> dict[str, Any]:
    """tomllib.loads, with every failure turned into ``error`` naming the file (and line)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"^(.*?)\s*\(at line (\d+), column (\d+)\)$", str(exc))
        if match:
            raise error(path, f"not valid TOML: {match[1]} (column {match[3]})",
                        line=int(match[2])) from None
        if str(exc).endswith("(at end of document)"):
            raise error(path, f"not valid TOML: {str(exc)[:-21].rstrip()} at the end of the file",
                        line=text.rstrip("\n").count("\n") + 1) from None
        raise error(path, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise error(path, "not usable: arrays or tables nested too deeply") from None
    except MemoryError:
        raise error(path, "too large to read") from None


def read_toml(path: Path, error: ErrorType = ConfigError) -> dict[str, Any]:
    """Read and decode a TOML file; every failure (a missing file too) is ``error``."""
    return decode_toml(read_text(path, error), path, error)


def _non_finite(raw: object) -> str | None:
    """The dotted key of the first NaN or infinity in a decoded JSON value (iterative: the
    value may be nested as deep as the parser allowed)."""
    pending: list[tuple[str, object]] = [("", raw)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            where = where or "(top level)"
            return where if len(where) <= 80 else where[:79] + "…"
        if isinstance(value, dict):
            pending += [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            pending += [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    return None


def decode_json(data: bytes | str, path: Path, error: ErrorType, advice: str = "") -> dict:
    """A JSON object from ``data``; anything else (NaN or an infinity anywhere in it too) is
    ``error`` naming the file (and the line, or the key)."""
    tail = f"; {advice}" if advice else ""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        raw = json.loads(text)
    except UnicodeDecodeError:
        raise error(path, f"not UTF-8 text{tail}") from None
    except json.JSONDecodeError as exc:
        raise error(path, f"not valid JSON: {exc.msg} (column {exc.colno}){tail}",
                    line=exc.lineno) from None
    except ValueError as exc:  # an integer of thousands of digits
        raise error(path, f"not valid JSON: {exc}{tail}") from None
    except RecursionError:
        raise error(path, f"not usable: nested too deeply{tail}") from None
    except MemoryError:
        raise error(path, f"too large to read{tail}") from None
    if not isinstance(raw, dict):
        raise error(path, f"expected a JSON object, got {_json_kind(raw)}{tail}")
    where = _non_finite(raw)  # NaN, Infinity or 1e999: JSON has no such numbers
    if where is not None:
        raise error(path, f"expected a finite number{tail}", key=where)
    return raw


def read_json(path: Path, error: ErrorType, advice: str = "") -> dict:
    """Read a JSON object from ``path``. ``FileNotFoundError`` is left to the caller (absent
    usually means "use the default"); every other failure is ``error`` naming the file."""
    tail = f"; {advice}" if advice else ""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise
    except MemoryError:
        raise error(path, f"too large to read{tail}") from None
    except OSError as exc:
        raise error(path, f"cannot read: {exc.strerror or exc}{tail}") from None
    return decode_json(data, path, error, advice)


def _json_kind(value: object) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "true or false", type(None): "null"}.get(type(value), type(value).__name__)


def is_number(value: object, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite int or float (not a bool) from ``low`` to ``high``."""
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and math.isfinite(value) and low <= value <= high)


def is_int(value: object, low: int | None = None, high: int | None = None) -> bool:
    """An int (not a bool) from ``low`` to ``high``."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and (low is None or value >= low) and (high is None or value <= high))


def line_of(text: str, dotted: str) -> int | None:
    """The line that sets ``dotted`` in TOML ``text`` (``profiles.sat.loss``, ``theme``,
    ``contact[2].rule``), when it can be found simply: a top-level key, or a key under its
    ``[table]`` or n-th ``[[array]]`` header. None when in doubt."""
    parts = dotted.split(".")
    lines = text.splitlines()
    for cut in range(len(parts) - 1, -1, -1):
        table, key = parts[:cut], parts[cut:]
        if any("[" in part for part in key) or any("[" in part for part in table[:-1]):
            continue
        start = 0
        if table:
            name, _, index = table[-1].partition("[")
            names = r"\s*\.\s*".join(rf'"?{re.escape(part)}"?' for part in [*table[:-1], name])
            header = re.compile(rf"^\s*\[\[\s*{names}\s*\]\]" if index else
                                rf"^\s*\[\s*{names}\s*\](?!\])")
            wanted = int(index.rstrip("]")) if index.rstrip("]").isdigit() else 0
            found = [i for i, line in enumerate(lines) if header.match(line)]
            if len(found) <= wanted:
                continue
            start = found[wanted] + 1
        assign = re.compile(r'^\s*"?' + r'"?\s*\.\s*"?'.join(re.escape(k) for k in key)
                            + r'"?\s*=')
        for index in range(start, len(lines)):
            if lines[index].lstrip().startswith("["):
                break  # the next table: the key is not set under this one
            if assign.match(lines[index]):
                return index + 1
    return None


def line_in_file(path: Path, dotted: str) -> int | None:
    """``line_of`` for a TOML file read again (for an error message only; never raises)."""
    try:
        return line_of(Path(path).read_text(encoding="utf-8"), dotted)
    except (OSError, ValueError, MemoryError):
        return None


def named_tables(section: str, shipped: Any, shipped_path: Path, user: dict[str, Any] | None,
                 user_path: Path, parse: Any) -> dict[str, Any]:
    """``[SECTION.NAME]`` tables, the shipped file's then the user's (which may replace one by
    name), each made by ``parse(name, table, path, "SECTION.")``. ConfigError names the file,
    key and line of a value that is not a table."""
    found: dict[str, Any] = {}
    for tables, path, lines in ((shipped, shipped_path, False), (user or {}, user_path, True)):
        for name, table in tables.items():
            if not isinstance(table, dict):
                raise ConfigError(path, "expected a table", key=f"{section}.{name}",
                                  line=line_in_file(path, f"{section}.{name}") if lines
                                  else None)
            found[name] = parse(name, table, path, f"{section}.")
    return found
