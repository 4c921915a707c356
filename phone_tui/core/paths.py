"""Where phone_tui keeps its files: platformdirs locations, or one folder given by the user."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from phone_tui.errors import FolderError

APP_NAME = "phone-tui"
HOME_ENV = "PHONE_TUI_HOME"


@dataclass(frozen=True)
class Paths:
    """Every location phone_tui reads or writes."""

    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.toml"

    @property
    def user_themes_dir(self) -> Path:
        return self.config_dir / "themes"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "phone-tui.log"

    @property
    def personas_dir(self) -> Path:
        return self.data_dir / "personas"

    def persona_dir(self, persona: str) -> Path:
        return self.personas_dir / persona


def resolve_paths(data_dir: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None) -> Paths:
    """``--data-dir`` wins, then ``$PHONE_TUI_HOME``, then the platform's usual folders."""
    env = os.environ if env is None else env
    root = data_dir if data_dir is not None else env.get(HOME_ENV) or None
    if root is not None:
        base = Path(root).expanduser().absolute()
        return Paths(config_dir=base, data_dir=base / "data", log_dir=base / "logs")
    import platformdirs

    return Paths(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )


def make_private_dirs(path: Path) -> Path:
    """Create ``path`` and each missing parent with mode 0700 (``mkdir(parents=True)`` gives
    the parents the umask's mode, 0755 as a rule). Folders that exist are left as they are."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            if not folder.is_dir():
                raise FolderError(f"{folder}: not a folder (a file of that name is in the "
                                  "way); give another with --data-dir") from None
        except NotADirectoryError:
            raise FolderError(f"{folder}: cannot be made, a file is in the way on the path; "
                              "give another with --data-dir") from None
        except OSError as problem:
            raise FolderError(f"{folder}: cannot be made ({problem.strerror or problem})") \
                from None
    return path


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable only by the owner."""
    make_private_dirs(path)
    # A folder we do not own (a shared mount, say) is left as it is.
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    return path
