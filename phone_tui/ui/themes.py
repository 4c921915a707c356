"""Themes: ``themes/*.toml`` (shipped) and ``<config>/themes/*.toml`` (the user's) → Theme."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.color import Color, ColorParseError
from textual.theme import Theme

from phone_tui.core.documents import read_toml
from phone_tui.core.resources import themes_dir
from phone_tui.errors import ThemeError

if TYPE_CHECKING:
    from textual.app import App

DEFAULT_THEME = "secure"
COLOR_KEYS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
              "success", "warning", "error", "boost")
# Variables our stylesheet uses beyond Textual's, with the values a theme that omits them gets.
VARIABLE_DEFAULTS = {"persona-secure": "#3FB68B", "persona-open": "#5A8DEE"}
# Unlit signal bars: the panel moved this far toward the foreground, so they stay visible yet
# always sit closer to the background than lit bars, on dark themes and light ones alike.
UNLIT_BLEND = 0.3


def start_with_theme(app: App, name: str) -> None:
    """Choose an app's theme before it runs, as setting ``App.theme`` does, less the refresh
    its watcher queues: that parsed every stylesheet again once the first widgets were styled
    (about 16 M instructions of start-up, benchmarks/startup.py). Nothing has read the
    variables yet: they are just set."""
    app.set_reactive(type(app).theme, name)
    dark = app.current_theme.dark
    app.update_classes({f"-theme-{name}": True, "-dark-mode": dark, "-light-mode": not dark},
                       update=False)
    app._refresh_truecolor_filter(app.ansi_theme)
    app.stylesheet.set_variables(app.get_css_variables())


def derived_variables(variables: dict[str, str]) -> dict[str, str]:
    """The theme's CSS variables plus those worked out from its own colours (``signal-unlit``),
    unless the theme sets them itself."""
    if "signal-unlit" in variables:
        return variables
    try:
        panel = Color.parse(variables["panel"])
        foreground = Color.parse(variables["foreground"])
    except (KeyError, ColorParseError):
        return {**variables, "signal-unlit": "ansi_bright_black"}
    if panel.ansi is not None or foreground.ansi is not None:  # an ANSI theme: no blending
        return {**variables, "signal-unlit": "ansi_bright_black"}
    return {**variables, "signal-unlit": panel.blend(foreground, UNLIT_BLEND).hex}


@dataclass
class ThemeCatalog:
    themes: dict[str, Theme] = field(default_factory=dict)
    problems: list[ThemeError] = field(default_factory=list)


def parse_theme(path: Path) -> Theme:
    """Build a Theme from one TOML file; ThemeError names the file, line and key on a problem."""
    raw = read_toml(path, ThemeError)
    for key in raw:
        if key not in ("name", "dark", "colors", "variables"):
            raise ThemeError(path, "unknown key (expected name, dark, colors, variables)", key=key)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(path, "expected a non-empty string", key="name")
    dark = raw.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(path, "expected true or false", key="dark")
    colors = raw.get("colors", {})
    if not isinstance(colors, dict):
        raise ThemeError(path, "expected a table of colours", key="colors")
    for key, value in colors.items():
        if key not in COLOR_KEYS:
            raise ThemeError(path, f"unknown colour (known: {', '.join(COLOR_KEYS)})",
                             key=f"colors.{key}")
        _check_color(path, f"colors.{key}", value)
    if "primary" not in colors:
        raise ThemeError(path, "a theme needs at least a primary colour", key="colors.primary")
    variables = raw.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeError(path, "expected a table", key="variables")
    for key, value in variables.items():
        _check_color(path, f"variables.{key}", value)
    return Theme(name=name, dark=dark, variables=dict(variables), **colors)


def _check_color(path: Path, key: str, value: object) -> None:
    if not isinstance(value, str):
        raise ThemeError(path, "expected a colour string such as \"#1A73E8\"", key=key)
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(path, f"{value!r} is not a colour", key=key) from None


def load_themes(user_dir: Path | None) -> ThemeCatalog:
    """Shipped themes, then the user's (which may override a shipped one by name)."""
    catalog = ThemeCatalog()
    folders = [themes_dir()] + ([user_dir] if user_dir is not None and user_dir.is_dir() else [])
    for folder in folders:
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = parse_theme(path)
            except ThemeError as problem:
                catalog.problems.append(problem)
                continue
            catalog.themes[theme.name] = theme
    return catalog
