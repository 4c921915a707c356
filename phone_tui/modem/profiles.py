"""Link profiles as data: seeds/link_profiles.toml plus the user's [profiles] in settings.toml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phone_tui.core.documents import is_int, is_number, line_in_file, named_tables, read_toml
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError

REGISTRATION_STATES = ("home", "roaming", "searching", "denied", "unregistered")


@dataclass(frozen=True)
class LinkProfile:
    """How one cellular link behaves, per direction."""

    name: str
    label: str
    latency_ms: float
    jitter_ms: float
    loss: float
    loss_burst: float
    down_kbps: float
    up_kbps: float
    queue_kb: float = 64.0
    reorder: float = 0.0
    duplicate: float = 0.0
    corrupt: float = 0.0
    registration: str = "home"
    network_type: str = "LTE"
    bars: int = 4

    @property
    def in_service(self) -> bool:
        return self.registration in ("home", "roaming") and self.loss < 1.0

    def rate_bps(self, direction: str) -> float:
        """Bits per second for "up" or "down"; 0 means unlimited."""
        return 1000.0 * (self.up_kbps if direction == "up" else self.down_kbps)


_NUMBERS = ("latency_ms", "jitter_ms", "loss", "loss_burst", "down_kbps", "up_kbps", "queue_kb",
            "reorder", "duplicate", "corrupt")
_PROBABILITIES = ("loss", "reorder", "duplicate", "corrupt")
# No link figure needs more (a day of latency, 100 Gbit/s); NaN and infinities are refused.
MAX_FIGURE = 1e8


def independent_burst(loss: float) -> float:
    """The mean burst length at which Gilbert-Elliott losses are independent: 1 / (1 − loss)."""
    return 1.0 / (1.0 - loss) if loss < 1.0 else 1.0


def parse_profile(name: str, raw: dict[str, Any], path: Path, prefix: str) -> LinkProfile:
    """Validate one profile table; ConfigError names the file and the key."""
    def fail(key: str, message: str) -> ConfigError:
        dotted = f"{prefix}{name}.{key}"
        return ConfigError(path, message, key=dotted, line=line_in_file(path, dotted))

    known = set(_NUMBERS) | {"label", "registration", "network_type", "bars"}
    for key in raw:
        if key not in known:
            raise fail(key, f"unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {"name": name, "label": raw.get("label", name)}
    for key in _NUMBERS:
        if key not in raw:
            continue
        value = raw[key]
        if not is_number(value, 0.0, MAX_FIGURE):
            got = f", got {value!r}" if is_number(value) or isinstance(value, float) else ""
            raise fail(key, f"expected a number ≥ 0 (at most {MAX_FIGURE:g}){got}")
        if key in _PROBABILITIES and value > 1:
            raise fail(key, "expected a probability from 0 to 1")
        values[key] = float(value)
    for key in ("latency_ms", "jitter_ms", "loss", "down_kbps", "up_kbps"):
        if key not in values:
            raise fail(key, "missing (every profile gives latency_ms, jitter_ms, loss, "
                            "down_kbps and up_kbps)")
    if values["jitter_ms"] > values["latency_ms"]:
        raise fail("jitter_ms", "jitter larger than the latency would make delays negative")
    values.setdefault("loss_burst", independent_burst(values["loss"]))
    if values["loss_burst"] < 1:
        raise fail("loss_burst", "a burst is at least one frame long")
    registration = raw.get("registration", "home")
    if not isinstance(registration, str) or registration not in REGISTRATION_STATES:
        raise fail("registration", f"expected one of {', '.join(REGISTRATION_STATES)}")
    values["registration"] = registration
    if not isinstance(values["label"], str):
        raise fail("label", "expected a string")
    network_type = raw.get("network_type", "LTE")
    if not isinstance(network_type, str):
        raise fail("network_type", "expected a string")
    values["network_type"] = network_type
    bars = raw.get("bars", 4)
    if not is_int(bars, 0, 4):
        raise fail("bars", "expected an integer from 0 to 4")
    values["bars"] = bars
    return LinkProfile(**values)


def load_profiles(user: dict[str, Any] | None = None, user_path: Path | None = None, *,
                  shipped: Path | None = None) -> dict[str, LinkProfile]:
    """The shipped profiles (``shipped``: another file of that shape), then the user's (which
    may replace one by name). ConfigError names the file and key of any bad value."""
    path = shipped or seeds_dir() / "link_profiles.toml"
    raw = read_toml(path).get("profiles", {})
    if not isinstance(raw, dict):
        raise ConfigError(path, "expected [profiles.NAME] tables", key="profiles",
                          line=line_in_file(path, "profiles"))
    return named_tables("profiles", raw, path, user, user_path or Path("settings.toml"),
                        parse_profile)
