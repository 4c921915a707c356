"""Voice codec profiles as data: seeds/codecs.toml plus the user's [codecs] in settings.toml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phone_tui.core.documents import is_int, is_number, line_in_file, named_tables, read_toml
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError

DEFAULT_CODEC = "opus-16k"
SAMPLE_RATES = (8000, 16000, 24000, 48000)
MAX_FRAME_BYTES = 1200  # one frame must fit a hop frame with room to spare


@dataclass(frozen=True)
class CodecProfile:
    """One voice codec as a call uses it: rates, frame size and its E-model figures."""

    name: str
    label: str
    sample_rate: int
    bitrate: int
    frame_ms: int
    frame_bytes: int
    ie: float
    bpl: float
    estimated: bool
    source: str
    lookahead_ms: float = 5.0  # the encoder's look-ahead: part of the mouth-to-ear delay

    @property
    def frame_samples(self) -> int:
        """PCM samples in one frame at ``sample_rate``."""
        return self.sample_rate * self.frame_ms // 1000


_INTS = {"sample_rate": (8000, 48000), "bitrate": (1000, 512_000), "frame_ms": (10, 60),
         "frame_bytes": (1, MAX_FRAME_BYTES)}
# Bpl 0 would make Ie,eff jump to 95 at the first lost frame.
_FLOATS = {"ie": (0.0, 100.0), "bpl": (0.1, 100.0), "lookahead_ms": (0.0, 100.0)}
_OPTIONAL = ("lookahead_ms",)
_STRINGS = ("label", "source")
_KEYS = (*_STRINGS, *_INTS, *_FLOATS, "estimated")
_REQUIRED = tuple(key for key in _KEYS if key not in _OPTIONAL)


def parse_codec(name: str, raw: dict[str, Any], path: Path, prefix: str) -> CodecProfile:
    """Validate one codec table; ConfigError names the file and the key."""
    def fail(key: str, message: str) -> ConfigError:
        dotted = f"{prefix}{name}.{key}"
        return ConfigError(path, message, key=dotted, line=line_in_file(path, dotted))

    for key in raw:
        if key not in _KEYS:
            raise fail(key, f"unknown key (known: {', '.join(sorted(_KEYS))})")
    for key in _KEYS:
        if key not in raw and key not in _OPTIONAL:
            raise fail(key, f"missing (every codec gives {', '.join(_REQUIRED)})")
    values: dict[str, Any] = {"name": name}
    for key in _STRINGS:
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise fail(key, "expected a non-empty string")
        values[key] = raw[key]
    for key, (low, high) in _INTS.items():
        if not is_int(raw[key], low, high):
            raise fail(key, f"expected an integer from {low} to {high}, got {raw[key]!r}")
        values[key] = raw[key]
    if values["sample_rate"] not in SAMPLE_RATES:
        raise fail("sample_rate", f"expected one of {', '.join(map(str, SAMPLE_RATES))}")
    if values["frame_ms"] % 10:
        raise fail("frame_ms", "expected a multiple of 10 ms")
    for key, (low, high) in _FLOATS.items():
        if key not in raw:
            continue
        if not is_number(raw[key], low, high):
            raise fail(key, f"expected a number from {low:g} to {high:g}, got {raw[key]!r}")
        values[key] = float(raw[key])
    if not isinstance(raw["estimated"], bool):
        raise fail("estimated", "expected true or false")
    values["estimated"] = raw["estimated"]
    return CodecProfile(**values)


def load_codecs(extra: dict[str, Any] | None = None, extra_path: Path | None = None, *,
                shipped: Path | None = None) -> dict[str, CodecProfile]:
    """The shipped codecs, then ``extra`` (the user's [codecs] tables, which may replace one by
    name). ConfigError names the file and key of any bad value."""
    path = shipped or seeds_dir() / "codecs.toml"
    raw = read_toml(path).get("codecs")
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(path, "expected [codecs.NAME] tables", key="codecs",
                          line=line_in_file(path, "codecs"))
    codecs = named_tables("codecs", raw, path, extra, extra_path or Path("settings.toml"),
                          parse_codec)
    if DEFAULT_CODEC not in codecs:
        raise ConfigError(path, f"the default codec {DEFAULT_CODEC} is missing",
                          key=f"codecs.{DEFAULT_CODEC}")
    return codecs
