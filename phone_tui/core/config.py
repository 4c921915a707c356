"""settings.toml: read with tomllib, validated key by key, written back with its comments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from phone_tui.core.atomic import atomic_write
from phone_tui.core.documents import decode_toml, read_text, read_toml
from phone_tui.errors import ConfigError

PERSONAS = ("secure", "open")
LOG_LEVELS = ("debug", "info", "warning", "error")
__all__ = ["LOG_LEVELS", "PERSONAS", "Settings", "decode_toml", "load_settings", "parse_settings",
           "read_text", "read_toml", "render_settings", "save_settings", "with_changes"]


@dataclass(frozen=True)
class Settings:
    """Device-wide settings. Persona settings (auto-lock...) live in the persona's store."""

    theme: str = "secure"
    open_theme: str = "open"
    persona: str = "secure"
    show_waiting_count: bool = True
    wipe_after_failures: int = 10
    log_level: str = "warning"
    link_profile: str = "lte"
    airplane: bool = False
    allow_2g: bool = True
    notify_unencrypted: bool = False
    keymap: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)


_COMMENTS = {
    "theme": "Theme of the secure OS: a built-in one (secure, open, high-contrast) or a file "
             "NAME.toml in themes/ beside this file.",
    "open_theme": "Theme of the open OS (same choices).",
    "persona": 'Which OS the handset boots: "secure" (the encrypted OS) or "open". Switching OS '
               "in the app sets it to the one you switched to.",
    "show_waiting_count": "Show on the OS-switch screen how many messages wait in the network for "
                          "the OS that is not running (a count only).",
    "wipe_after_failures": "Wipe a persona after this many wrong PINs in a row (0 = never), unless "
                           "its own Settings chose another number.",
    "log_level": 'Log detail: "debug", "info", "warning" or "error". Logs never hold PINs, keys '
                 "or message text.",
    "link_profile": 'The cellular link: full, no-service, gprs, edge, 3g, 4g-slow, lte, 5g, '
                    "weak-signal, or one of your [profiles].",
    "airplane": "Airplane mode: the modem stays off the network; messages wait.",
    "allow_2g": "Settings > Network security on an OS whose policy lets its user choose (the "
                "open OS): use 2G cells (on by default, as on Android). The secure OS never does.",
    "notify_unencrypted": "Network security: tell the user about unencrypted networks and "
                          "identity requests (off by default, as on Android).",
    "keymap": 'Remap keys by binding id, e.g. "handset.lock" = "ctrl+k". Ids are listed in the '
              "README.",
    "profiles": "Your own link profiles, e.g. [profiles.satellite] with latency_ms, jitter_ms, "
                "loss, down_kbps, up_kbps (see the README).",
}
_TABLES = ("keymap", "profiles")

_TYPES: dict[str, type] = {"theme": str, "open_theme": str, "persona": str,
                           "show_waiting_count": bool, "wipe_after_failures": int,
                           "log_level": str, "link_profile": str, "airplane": bool,
                           "allow_2g": bool, "notify_unencrypted": bool,
                           "keymap": dict, "profiles": dict}


def _line_of(text: str, key: str) -> int | None:
    match = re.search(rf'^\s*"?{re.escape(key)}"?\s*=', text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


def parse_settings(text: str, path: Path) -> Settings:
    """Parse and validate settings TOML; raise ConfigError naming the file, line and key."""
    raw = decode_toml(text, path)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        expected = _TYPES.get(key)
        if expected is None:
            known = ", ".join(_TYPES)
            raise ConfigError(path, f"unknown key (known keys: {known})", key=key,
                              line=_line_of(text, key))
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)) or \
                not isinstance(value, expected):
            raise ConfigError(path, f"expected {_type_name(expected)}, got "
                                    f"{_type_name(type(value))}", key=key,
                              line=_line_of(text, key))
        values[key] = value
    settings = Settings(**values)
    _check_values(settings, path, text)
    return settings


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer", dict: "a table", bool: "a boolean",
            float: "a number", list: "an array"}.get(kind, kind.__name__)


def _check_values(settings: Settings, path: Path, text: str) -> None:
    def fail(key: str, message: str) -> None:
        raise ConfigError(path, message, key=key, line=_line_of(text, key))

    if settings.persona not in PERSONAS:
        fail("persona", f"expected one of {', '.join(PERSONAS)}, got {settings.persona!r}")
    if settings.log_level not in LOG_LEVELS:
        fail("log_level", f"expected one of {', '.join(LOG_LEVELS)}, got {settings.log_level!r}")
    if not 0 <= settings.wipe_after_failures <= 1000:
        fail("wipe_after_failures", "expected an integer from 0 (never) to 1000")
    for key in ("theme", "open_theme"):
        if not getattr(settings, key).strip():
            fail(key, "expected a theme name, got an empty string")
    for binding_id, keys in settings.keymap.items():
        if not isinstance(keys, str) or not keys.strip():
            fail(f"keymap.{binding_id}", "expected a key string such as \"ctrl+k\"")
    for name, table in settings.profiles.items():
        if not isinstance(table, dict):
            fail(f"profiles.{name}", "expected a table of link figures")


def render_settings(settings: Settings) -> str:
    """settings.toml text with a comment above every key."""
    import tomli_w  # only needed when writing, which start-up rarely does
    out = ["# phone-tui settings. Edit while the app is closed; unknown keys are an error.", ""]
    for item in fields(Settings):
        if item.name in _TABLES:
            continue
        out.append(f"# {_COMMENTS[item.name]}")
        out.append(tomli_w.dumps({item.name: getattr(settings, item.name)}).rstrip())
        out.append("")
    out.append(f"# {_COMMENTS['keymap']}")
    out.append("[keymap]")
    if settings.keymap:
        out.append(tomli_w.dumps(settings.keymap).rstrip())
    out.append("")
    out.append(f"# {_COMMENTS['profiles']}")
    if settings.profiles:
        out.append(tomli_w.dumps({"profiles": settings.profiles}).rstrip())
    return "\n".join(out) + "\n"


def load_settings(path: Path) -> Settings:
    """Read settings.toml, creating it with commented defaults when absent."""
    if not path.exists():
        settings = Settings()
        atomic_write(path, render_settings(settings).encode(), mode=0o600)
        return settings
    return parse_settings(read_text(path), path)


def save_settings(path: Path, settings: Settings) -> None:
    atomic_write(path, render_settings(settings).encode(), mode=0o600)


def with_changes(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
