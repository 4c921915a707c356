"""The emulated device's fixed facts, read from seeds/device.toml (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phone_tui.core.documents import line_in_file, read_toml
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError
from phone_tui.modem.cells import RadioPolicy, parse_radio_policy

RADIOS = ("camera", "gps", "wifi", "bluetooth")


@dataclass(frozen=True)
class PersonaInfo:
    os_name: str
    os_version: str
    removed_radios: tuple[str, ...] = ()
    boot_steps: tuple[str, ...] = ()
    radio: RadioPolicy | None = None  # what it accepts from the cellular network
    # Whether this OS takes and sends plain SMS (the carrier reads them); the Secure OS has
    # none by policy. Absent from the file: none (the safe side).
    plain_sms: bool = False
    # Plain carrier calls (set up by the carrier, which can listen): the Open OS has them, the
    # Secure OS refuses them by policy (its calls are end-to-end encrypted only).
    plain_calls: bool = False


@dataclass(frozen=True)
class DeviceInfo:
    model: str
    carrier: str
    network_type: str
    signal_bars: int
    number_prefix: str
    battery_percent: int
    personas: dict[str, PersonaInfo]
    tac: str = "86417503"  # the IMEIs' Type Allocation Code (modem.cells.derive_identity)


_FIELDS = {"model": str, "carrier": str, "network_type": str, "signal_bars": int,
           "number_prefix": str, "battery_percent": int, "tac": str}


def load_device(path: Path | None = None) -> DeviceInfo:
    """seeds/device.toml (or a file of that shape); ConfigError names the file and key."""
    path = path or seeds_dir() / "device.toml"
    raw = read_toml(path)

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(path, message, key=key, line=line_in_file(path, key))

    unknown = sorted(set(raw) - set(_FIELDS) - {"persona"})
    if unknown:
        raise fail(unknown[0], f"unknown key (known: {', '.join([*_FIELDS, 'persona'])})")
    values = {}
    for key, kind in _FIELDS.items():
        value = raw.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise fail(key, f"expected {'an integer' if kind is int else 'a string'}")
        values[key] = value
    tables = raw.get("persona", {})
    if not isinstance(tables, dict):
        raise fail("persona", "expected [persona.secure] and [persona.open] tables")
    personas = {}
    for name in ("secure", "open"):
        table = tables.get(name)
        if not isinstance(table, dict) or not all(
                isinstance(table.get(k), str) for k in ("os_name", "os_version")):
            raise fail(f"persona.{name}", "expected a table with os_name and os_version strings")
        known = ("os_name", "os_version", "removed_radios", "boot", "radio", "plain_sms",
                 "plain_calls")
        extra = sorted(set(table) - set(known))
        if extra:
            raise fail(f"persona.{name}.{extra[0]}", f"unknown key (known: {', '.join(known)})")
        plain_sms = table.get("plain_sms", False)
        if not isinstance(plain_sms, bool):
            raise fail(f"persona.{name}.plain_sms", "expected true or false")
        plain_calls = table.get("plain_calls", False)
        if not isinstance(plain_calls, bool):
            raise fail(f"persona.{name}.plain_calls", "expected true or false")
        removed = table.get("removed_radios", [])
        if not isinstance(removed, list) or any(not isinstance(radio, str) or radio not in RADIOS
                                                for radio in removed):
            raise fail(f"persona.{name}.removed_radios",
                       f"expected a list of radios from {', '.join(RADIOS)}")
        boot = table.get("boot", [])
        if not isinstance(boot, list) or not all(isinstance(step, str) for step in boot):
            raise fail(f"persona.{name}.boot", "expected a list of strings")
        if "radio" not in table:
            raise fail(f"persona.{name}.radio", "missing (the OS's radio policy table)")
        radio = parse_radio_policy(table["radio"], path, f"persona.{name}.radio")
        personas[name] = PersonaInfo(table["os_name"], table["os_version"], tuple(removed),
                                     tuple(boot), radio, plain_sms, plain_calls)
    if not 0 <= values["signal_bars"] <= 4:
        raise fail("signal_bars", "expected 0 to 4")
    if not 0 <= values["battery_percent"] <= 100:
        raise fail("battery_percent", "expected 0 to 100")
    if not (values["tac"].isascii() and values["tac"].isdigit() and len(values["tac"]) == 8):
        raise fail("tac", "expected a string of 8 digits")
    return DeviceInfo(personas=personas, **values)
