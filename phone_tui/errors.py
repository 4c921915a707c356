"""Typed errors with messages a person can act on.

Library code raises these; the CLI prints ``str(error)`` as one line and exits 2, the UI shows it
as a notification or an inline message.
"""

from __future__ import annotations

from pathlib import Path


class PhoneTuiError(Exception):
    """Base class: every error meant for a person."""


def _where(path: Path, key: str | None, line: int | None) -> str:
    """"FILE, line N, key 'K'": a key read from a damaged file is shown escaped (one line) and
    cut short."""
    where = str(path)
    if line is not None:
        where += f", line {line}"
    if key is not None:
        shown = key if key.isprintable() else key.encode("unicode_escape").decode("ascii")
        where += f", key '{shown if len(shown) <= 80 else shown[:79] + '…'}'"
    return where


class ConfigError(PhoneTuiError):
    """settings.toml (or another TOML file) is malformed or holds a bad value."""

    def __init__(self, path: Path | str, message: str, *, key: str | None = None,
                 line: int | None = None) -> None:
        self.path = Path(path)
        self.key = key
        self.line = line
        super().__init__(f"{_where(self.path, key, line)}: {message}")


class ThemeError(ConfigError):
    """A theme file is malformed, or a theme name is unknown."""


class FolderError(PhoneTuiError):
    """A folder phone-tui needs cannot be made: a file is in its way, or no permission."""


class KeystoreError(PhoneTuiError):
    """Base for keystore problems (and for the small files kept beside a keystore)."""

    def __init__(self, path: Path | str, message: str, *, key: str | None = None,
                 line: int | None = None) -> None:
        self.path = Path(path)
        self.key = key
        self.line = line
        super().__init__(f"{_where(self.path, key, line)}: {message}")


class KeystoreCorrupt(KeystoreError):
    """The file is truncated, damaged or altered; it is left untouched."""


class KeystoreVersionError(KeystoreError):
    """The file was written by a newer or unknown format version."""


class KeystoreDowngrade(KeystoreError):
    """The header asks for KDF parameters weaker than the policy allows."""


class WrongPin(PhoneTuiError):
    """The PIN did not unlock the keystore. ``os_name`` names the OS a wipe would erase (only
    that OS is wiped, never the whole phone)."""

    def __init__(self, failures: int, attempts_left: int | None, wait_seconds: float,
                 os_name: str | None = None) -> None:
        self.failures = failures
        self.os_name = os_name
        self.attempts_left = attempts_left
        self.wait_seconds = wait_seconds
        parts = ["Wrong PIN."]
        if attempts_left is not None:
            parts.append(f"{attempts_left} attempt{'s' if attempts_left != 1 else ''} left "
                         f"before {f'the {os_name}' if os_name else 'this OS'} is wiped.")
        if wait_seconds > 0:
            parts.append(f"Try again in {int(round(wait_seconds))} s.")
        super().__init__(" ".join(parts))


class Throttled(PhoneTuiError):
    """Too many wrong PINs: the keystore refuses attempts until the wait is over."""

    def __init__(self, wait_seconds: float) -> None:
        self.wait_seconds = wait_seconds
        super().__init__(f"Too many attempts. Try again in {int(-(-wait_seconds // 1))} s.")


class PinPolicyError(PhoneTuiError):
    """A new PIN does not meet the policy (4–16 digits, not equal to the duress PIN...)."""


class RadioRemoved(PhoneTuiError):
    """The radio is not present under this OS's policy."""


class StoreError(PhoneTuiError):
    """The encrypted store cannot be opened or read."""

    def __init__(self, path: Path | str, message: str, *, key: str | None = None,
                 line: int | None = None) -> None:
        self.path = Path(path)
        self.key = key
        self.line = line
        super().__init__(f"{_where(self.path, key, line)}: {message}")


class CarrierStateError(StoreError):
    """A file in the carrier's data folder (key directory, mailbox, carrier key) cannot be
    read; it is left untouched."""


class UsageError(PhoneTuiError):
    """A command-line argument is wrong."""


class PngError(PhoneTuiError):
    """The PNGs of the screenshots could not be written (no browser, or it failed)."""


class HandsetBusy(PhoneTuiError):
    """A PIN operation (unlock, setup, PIN change) is running; switching OS must wait for it."""
