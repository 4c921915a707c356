from __future__ import annotations

import pytest

from phone_tui.errors import ThemeError
from phone_tui.ui.themes import load_themes, parse_theme


def test_shipped_themes_load():
    catalog = load_themes(None)
    assert {"secure", "open", "high-contrast"} <= set(catalog.themes)
    assert not catalog.problems
    assert catalog.themes["open"].dark is False


def test_user_theme_is_added_and_a_broken_one_is_reported(tmp_path):
    (tmp_path / "mine.toml").write_text('name = "mine"\n[colors]\nprimary = "#ff0000"\n')
    (tmp_path / "broken.toml").write_text('name = "broken"\n[colors]\nprimary = "reddish"\n')
    catalog = load_themes(tmp_path)
    assert "mine" in catalog.themes
    assert "broken" not in catalog.themes
    [problem] = catalog.problems
    assert "broken.toml" in str(problem) and "colors.primary" in str(problem)


@pytest.mark.parametrize(("text", "pattern"), [
    ("[colors]\nprimary = '#fff'\n", "key 'name'"),
    ("name = 'x'\n", "key 'colors.primary'"),
    ("name = 'x'\n[colors]\nprimary = '#fff'\nglow = '#000'\n", "key 'colors.glow'"),
    ("name = 'x'\ndark = 'yes'\n[colors]\nprimary = '#fff'\n", "key 'dark'"),
    ("name = 'x'\nfont = 'big'\n", "key 'font'"),
    ("name = 'x\n", "line 1.*not valid TOML"),
])
def test_malformed_theme_names_file_and_key(tmp_path, text, pattern):
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(ThemeError, match=pattern):
        parse_theme(path)
