"""Link profiles as data: seeds/link_profiles.toml plus the user's [profiles] in settings.toml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phone_tui.core.config import read_toml
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


def independent_burst(loss: float) -> float:
    """The mean burst length at which Gilbert-Elliott losses are independent: 1 / (1 − loss)."""
    return 1.0 / (1.0 - loss) if loss < 1.0 else 1.0


def parse_profile(name: str, raw: dict[str, Any], path: Path, prefix: str) -> LinkProfile:
    """Validate one profile table; ConfigError names the file and the key."""
    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(path, message, key=f"{prefix}{name}.{key}")

    known = set(_NUMBERS) | {"label", "registration", "network_type", "bars"}
    for key in raw:
        if key not in known:
            raise fail(key, f"unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {"name": name, "label": raw.get("label", name)}
    for key in _NUMBERS:
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise fail(key, "expected a number ≥ 0")
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
    if registration not in REGISTRATION_STATES:
        raise fail("registration", f"expected one of {', '.join(REGISTRATION_STATES)}")
    values["registration"] = registration
    if not isinstance(values["label"], str):
        raise fail("label", "expected a string")
    network_type = raw.get("network_type", "LTE")
    if not isinstance(network_type, str):
        raise fail("network_type", "expected a string")
    values["network_type"] = network_type
    bars = raw.get("bars", 4)
    if isinstance(bars, bool) or not isinstance(bars, int) or not 0 <= bars <= 4:
        raise fail("bars", "expected an integer from 0 to 4")
    values["bars"] = bars
    return LinkProfile(**values)


def load_profiles(user: dict[str, Any] | None = None,
                  user_path: Path | None = None) -> dict[str, LinkProfile]:
    """The shipped profiles, then the user's (which may replace one by name)."""
    path = seeds_dir() / "link_profiles.toml"
    raw = read_toml(path).get("profiles", {})
    profiles = {name: parse_profile(name, table, path, "profiles.")
                for name, table in raw.items()}
    for name, table in (user or {}).items():
        if not isinstance(table, dict):
            raise ConfigError(user_path or "settings.toml", "expected a table",
                              key=f"profiles.{name}")
        profiles[name] = parse_profile(name, table, user_path or Path("settings.toml"),
                                       "profiles.")
    return profiles
