"""Counts read as words: "1 step", "2 hints", never "1 hint(s)" or "1 steps"."""

from __future__ import annotations

import pytest

from phone_tui.core.words import count


@pytest.mark.parametrize(("number", "expected"), [(0, "0 hints"), (1, "1 hint"), (2, "2 hints")])
def test_a_count_agrees_with_its_noun(number, expected):
    assert count(number, "hint") == expected


def test_train_lists_one_step_flows_without_plural_s(tmp_path, capsys, monkeypatch):
    from phone_tui import cli
    from phone_tui.flows import model

    flow = tmp_path / "one.toml"
    flow.write_text('[flow]\nid = "one"\ntitle = "One step"\naudience = "training"\n\n'
                    '[[step]]\nsay = "Lock it"\nsolution = [{ press = "ctrl+l" }]\n'
                    'expect = [{ event = "Locked" }]\n')
    monkeypatch.setattr(model, "shipped_flows", lambda: [flow])
    assert cli.main(["--data-dir", str(tmp_path), "train"]) == 0
    out = capsys.readouterr().out
    assert "1 step " in out and "1 steps" not in out


def test_the_coach_counts_hints_and_mistakes_in_words():
    from phone_tui.flows.model import load_flow, shipped_flows
    from phone_tui.flows.training import Score
    from phone_tui.ui.widgets.coach import CoachPanel

    flow = next(f for f in map(load_flow, shipped_flows()) if f.audience == "training")
    panel = CoachPanel(flow, None)
    panel.finished = True
    panel.score = Score(flow.id, flow.title, len(flow.steps), len(flow.steps), seconds=12.0,
                        hints=1, mistakes=["step 1: x"], finished=True)
    drawn: list[str] = []
    panel.update = drawn.append  # type: ignore[method-assign]
    panel._draw()
    assert "1 hint · 1 mistake" in drawn[-1] and "(s)" not in drawn[-1]
