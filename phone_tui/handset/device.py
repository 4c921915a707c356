"""The emulated device's fixed facts, read from seeds/device.toml (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phone_tui.core.config import read_toml
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError

RADIOS = ("camera", "gps", "wifi", "bluetooth")


@dataclass(frozen=True)
class PersonaInfo:
    os_name: str
    os_version: str
    removed_radios: tuple[str, ...] = ()
    boot_steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeviceInfo:
    model: str
    carrier: str
    network_type: str
    signal_bars: int
    number_prefix: str
    battery_percent: int
    personas: dict[str, PersonaInfo]


_FIELDS = {"model": str, "carrier": str, "network_type": str, "signal_bars": int,
           "number_prefix": str, "battery_percent": int}


def load_device(path: Path | None = None) -> DeviceInfo:
    path = path or seeds_dir() / "device.toml"
    raw = read_toml(path)
    values = {}
    for key, kind in _FIELDS.items():
        value = raw.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(path, f"expected {'an integer' if kind is int else 'a string'}",
                              key=key)
        values[key] = value
    personas = {}
    for name in ("secure", "open"):
        table = raw.get("persona", {}).get(name)
        if not isinstance(table, dict) or not all(
                isinstance(table.get(k), str) for k in ("os_name", "os_version")):
            raise ConfigError(path, "expected a table with os_name and os_version strings",
                              key=f"persona.{name}")
        removed = table.get("removed_radios", [])
        if not isinstance(removed, list) or any(radio not in RADIOS for radio in removed):
            raise ConfigError(path, f"expected a list of radios from {', '.join(RADIOS)}",
                              key=f"persona.{name}.removed_radios")
        boot = table.get("boot", [])
        if not isinstance(boot, list) or not all(isinstance(step, str) for step in boot):
            raise ConfigError(path, "expected a list of strings", key=f"persona.{name}.boot")
        personas[name] = PersonaInfo(table["os_name"], table["os_version"], tuple(removed),
                                     tuple(boot))
    if not 0 <= values["signal_bars"] <= 4:
        raise ConfigError(path, "expected 0 to 4", key="signal_bars")
    return DeviceInfo(personas=personas, **values)
