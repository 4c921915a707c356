"""Training: the coach beside the handset, hints, mistakes, the score, progress and reports."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from phone_tui import cli
from phone_tui.flows.model import Action, load_flow, shipped_flows
from phone_tui.flows.training import Progress, ProgressError, Score, report
from phone_tui.testing import settle, wait_for
from phone_tui.ui.flow_runner import FlowDriver, run_flow
from phone_tui.ui.widgets.coach import CoachPanel

TRAINING = [p for p in shipped_flows() if load_flow(p).audience == "training"]


async def _coached(flow, data_dir: Path, coach: CoachPanel) -> FlowDriver:
    """A flow driver with ``coach`` beside it, its phones prepared, the coach attached once the
    app is ready."""
    driver = FlowDriver(flow, data_dir, side=coach)
    await driver.prepare_phones()
    driver.listen()
    driver.on_ready.append(lambda: coach.attach(driver))
    return driver


async def _train(flow, data_dir: Path, progress: Progress, *, idle_first: bool,
                 give_up: bool = False):
    """A scripted trainee: (optionally) waits on step 1 until the hint shows, then does each
    step's solution (or, with ``give_up``, quits there); returns the coach."""
    coach = CoachPanel(flow, progress)
    driver = await _coached(flow, data_dir, coach)
    async with driver.app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        for index, step in enumerate(flow.steps):
            await wait_for(pilot, lambda i=index: coach.index == i and not coach._acting,
                           rounds=1500)
            if idle_first and index == 0:
                await wait_for(pilot, lambda: coach.hint_shown, rounds=1500)
                assert "Hint:" in str(coach.content)
                if give_up:
                    break
                # From here the trainee is quick: no more hints come due.
                coach.flow = replace(coach.flow, hint_after=600.0)
            for action in step.solution:
                await driver.act(pilot, action)
            await wait_for(pilot, lambda i=index: coach.finished or coach.index > i,
                           rounds=1500)
        await settle(pilot)
        assert give_up or (coach.finished and "Done:" in str(coach.content))
        if not give_up:  # the default name reads as a name, not a placeholder
            assert f'Saved for trainee "{progress.trainee}".' in str(coach.content)
    coach.save()  # what `phone-tui train` does when the app closes
    return coach


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.stem)
def test_each_training_flow_failed_once_with_the_hint_then_completed(path, tmp_path,
                                                                     fast_kdf):
    flow = replace(load_flow(path), hint_after=0.3)  # the trainee waits on step 1
    progress = Progress(tmp_path / "training", "ana")
    stuck = asyncio.run(_train(flow, tmp_path / "first", progress, idle_first=True,
                               give_up=True))
    # The hint came on its own after hint_after: free (the waiting costs time, not a hint).
    assert not stuck.finished and stuck.score.points == 0 and stuck.score.hints == 0
    coach = asyncio.run(_train(flow, tmp_path / "second", progress, idle_first=True))
    assert coach.score.hints == 0 and coach.score.mistakes == []
    assert coach.score.points == 100
    failed, passed = progress.attempts()
    assert (failed.finished, failed.steps_done) == (False, 0)
    assert passed.flow == flow.id and passed.finished and passed.hints == 0


def test_a_hint_asked_for_costs_ten_points_and_one_that_came_on_its_own_nothing():
    from phone_tui.ui.widgets.coach import CoachPanel

    flow = load_flow(TRAINING[0])
    asked, waited = CoachPanel(flow, None), CoachPanel(flow, None)
    asked.show_hint()
    waited.show_hint(asked=False)
    assert asked.hint_shown and waited.hint_shown
    assert (asked.score.hints, waited.score.hints) == (1, 0)


def test_a_mistake_is_noticed_and_costs_points(tmp_path, fast_kdf):
    path = next(p for p in TRAINING if p.stem == "train-switch-before-reading")
    flow = load_flow(path)
    # This trainee unlocks the Open OS first (the mistake), then does it right.
    first = replace(flow.steps[0], solution=(*flow.steps[0].solution,))
    wrong = load_flow(path).steps[0].solution
    from phone_tui.flows.model import Action

    first = replace(first, solution=(Action("unlock", True), Action("lock", True), *wrong))
    flow = replace(flow, steps=(first, *flow.steps[1:]))
    progress = Progress(tmp_path / "training", "ben")
    coach = asyncio.run(_train(flow, tmp_path / "run", progress, idle_first=False))
    assert coach.score.mistakes == [f"step 1: {flow.steps[0].mistakes[0].say}"]
    assert coach.score.points == 80


def test_scores_progress_and_reports(tmp_path, capsys):
    folder = tmp_path / "data" / "training"
    Progress(folder, "ana").record(Score("f1", "First", 3, 3, 200.0, 1, [], True, 1.0))
    Progress(folder, "ana").record(Score("f1", "First", 3, 1, 50.0, 0, [], False, 2.0))
    Progress(folder, "ben").record(Score("f2", "Second", 2, 2, 30.0, 0, ["step 1: x"], True))
    assert Score("f", "F", 2, 2, 150.0, 1, ["m"], True).points == 67  # 100-10-20-3
    table = report(folder)
    assert "ana      f1" in table and "stopped at step 2" in table
    csv_text = report(folder, "csv").splitlines()
    assert csv_text[0].startswith("trainee,flow,attempts,best")
    assert csv_text[1].startswith("ana,f1,2,88,")
    assert report(folder, "md").startswith("| trainee | flow |")
    assert cli.main(["--data-dir", str(tmp_path), "train", "--report", "--format", "md"]) == 0
    assert "| ben | f2 | 1 | 80 |" in capsys.readouterr().out
    # A damaged progress file is reported and kept.
    (folder / "ana.json").write_text("{not json")
    with pytest.raises(ProgressError, match="ana.json"):
        Progress(folder, "ana").record(Score("f1", "First", 3))
    assert (folder / "ana.json").read_text() == "{not json"
    assert cli.main(["--data-dir", str(tmp_path), "train", "--report"]) == 2


def test_train_lists_the_scenarios_and_refuses_others(tmp_path, capsys):
    assert cli.main(["--data-dir", str(tmp_path), "train", "--trainee", "ana"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('Training scenarios for trainee "ana" (phone-tui train ID --trainee '
                          'NAME):\n'), out
    for path in TRAINING:
        assert path.stem in out
    assert "not done yet" in out
    assert cli.main(["--data-dir", str(tmp_path), "train", "demo-os-switch"]) == 2
    assert "not a training flow" in capsys.readouterr().err
    assert cli.main(["--data-dir", str(tmp_path), "train", "--trainee", "../x"]) == 2


async def _coach_on_first_step(flow, data_dir: Path, size: tuple[int, int]):
    """The coach and the phone frame as the trainee first sees them (no hint asked)."""
    coach = CoachPanel(replace(flow, hint_after=600.0), None)
    driver = await _coached(flow, data_dir, coach)
    async with driver.app.run_test(size=size) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: coach.driver is not None and not coach._acting,
                       rounds=1500)
        await settle(pilot)
        frame = driver.app.query_one("#frame").region
        return coach, frame, coach.region, str(coach.content), driver.seeds.phones[0]


@pytest.mark.parametrize("size", [(100, 40), (160, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_coach_sits_level_with_the_phone_frame(size, tmp_path, fast_kdf):
    flow = load_flow(next(p for p in TRAINING if p.stem == "train-poor-link"))
    _, frame, panel, _, _ = asyncio.run(_coach_on_first_step(flow, tmp_path, size))
    assert (panel.y, panel.height) == (frame.y, frame.height)
    assert panel.x >= frame.right  # beside it, not over it
    # The pair is centred: as many empty columns left of the phone as right of the coach.
    left, right = frame.x, size[0] - panel.right
    assert abs(left - right) <= 2, (left, right)


@pytest.mark.parametrize("path", [p for p in TRAINING if load_flow(p).start != "setup"],
                         ids=lambda p: p.stem)
def test_coach_tells_the_training_pin_on_the_first_step_before_any_hint(path, tmp_path,
                                                                        fast_kdf):
    flow = load_flow(path)
    coach, _, _, text, seed = asyncio.run(_coach_on_first_step(flow, tmp_path, (100, 40)))
    assert coach.index == 0 and not coach.hint_shown and coach.score.hints == 0
    assert "Hint:" not in text
    # The PIN the trainee unlocks with first: the Secure OS's unless the flow has them
    # unlock the Open OS (switch-before-reading must not: that is its mistake).
    first_unlock = next(e.where.get("persona", flow.persona) for s in flow.steps
                        for e in s.expect if e.event == "Unlocked")
    pin = seed.pin if first_unlock == "secure" else seed.open_pin
    assert pin in text


@pytest.mark.looptime
@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.stem)
async def test_no_step_the_trainee_must_do_ticks_itself_off_while_they_wait(path, tmp_path,
                                                                            fast_kdf):
    """At each step with a trainee's part, nobody touches the phone for two minutes of fake
    time (every bot reads and answers, the slow link delivers): the coach stays on that step.
    Then the trainee does it, and the scenario still finishes."""
    flow = replace(load_flow(path), hint_after=600.0)
    coach = CoachPanel(flow, None)
    driver = await _coached(flow, tmp_path, coach)
    async with driver.app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        for index, step in enumerate(flow.steps):
            await wait_for(pilot, lambda i=index: coach.index == i and not coach._acting,
                           rounds=1500)
            if step.solution:
                await asyncio.sleep(120)
                await pilot.pause()
                assert (coach.index, coach.finished) == (index, False), \
                    f"step {step.number} passed with nobody at the phone: {step.say}"
            for action in step.solution:
                await driver.act(pilot, action)
            try:
                await wait_for(pilot, lambda i=index: coach.finished or coach.index > i,
                               rounds=1500)
            except AssertionError:
                raise AssertionError(f"step {step.number} not passed: "
                                     f"{driver.pending(step, coach.since)}") from None
        assert coach.finished and "Done:" in str(coach.content)


@pytest.mark.parametrize(("argv", "said"), [
    (["train", "--format", "csv"], "--format goes with --report"),
    (["train", "--report", "--format", "csv", "extra"], "no FLOW with it"),
    (["train", "nonexistent"], "train-first-unlock"),
])
def test_train_options_that_do_not_go_together_are_one_line_and_exit_2(tmp_path, capsys, argv,
                                                                        said):
    """From the new-user review: these were ignored without a word (exit 0), and an unknown
    scenario listed the demo flows train refuses."""
    assert cli.main([*argv, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1, err
    assert "demo-" not in err


async def test_a_one_phone_scenario_has_no_stage_phone_among_its_contacts(tmp_path, fast_kdf):
    """From the new-user review: single-handset training listed "Director Wang", the
    stage's second phone underneath, whom no one answers."""
    flow = load_flow(next(p for p in TRAINING if p.stem == "train-verify-words"))
    driver = await _coached(flow, tmp_path, CoachPanel(flow, None))
    async with driver.app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        handset = driver.handsets[0]
        await handset.unlock(driver.pin(handset.running))
        await settle(pilot)
        names = {contact.name for contact in handset.messenger.contacts()}
        assert "Duty Officer" in names and not names & {p.name for p in driver.stage.phones}


def _flow(stem: str):
    return load_flow(next(p for p in TRAINING if p.stem == stem))


@pytest.mark.parametrize(("stem", "number", "wrong", "missing"), [
    ("train-safe-channel", 2, Action("send", "Tonight's door code is 4471.", to="Echo"),
     "intercept record service='e2e-message' to='Duty Officer' content='ciphertext'"),
    ("train-safe-channel", 3, Action("sms", "Running ten minutes late.", to="Echo"),
     "intercept record service='sms' to='Duty Officer' text_contains='ten minutes'"),
    ("train-safe-channel", 4, Action("send", "Tomorrow's visitor is Zhao.",
                                     to="IT Security Desk"),
     "intercept record service='e2e-message' to='Duty Officer' content='ciphertext'"),
    ("train-spot-fake-cell", 4, Action("send", "A fake base station.", to="Duty Officer"),
     "intercept record service='e2e-message' to='IT Security Desk' content='ciphertext'"),
], ids=["door-code-to-echo", "late-sms-to-echo", "visitor-to-desk", "report-to-duty"])
async def test_a_step_that_names_a_recipient_fails_when_another_contact_got_it(
        stem, number, wrong, missing, tmp_path, fast_kdf):
    flow = _flow(stem)
    # The wrong recipient, and time enough for that message to be delivered (its other
    # expectations hold: only the recipient is missing).
    last = replace(flow.steps[number - 1], solution=(wrong,), timeout=4.0)
    flow = replace(flow, steps=(*flow.steps[:number - 1], last))
    report = await run_flow(flow, tmp_path / "run")
    assert [r.passed for r in report.results] == [True] * (number - 1) + [False]
    assert report.results[-1].missing == [missing]


async def test_a_mistake_is_told_in_its_own_words_when_it_happens_and_at_the_end(tmp_path,
                                                                                   fast_kdf):
    flow = _flow("train-safe-channel")
    said = flow.steps[1].mistakes[0].say
    assert said and said.startswith("You sent a plain SMS")
    coach = CoachPanel(flow, None)
    driver = await _coached(flow, tmp_path / "run", coach)
    async with driver.app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        for index, step in enumerate(flow.steps):
            await wait_for(pilot, lambda i=index: coach.index == i and not coach._acting,
                           rounds=1500)
            if index == 1:  # the door code by SMS first (the mistake), then the right way
                await driver.act(pilot, Action("sms", "Door code 4471.", to="Duty Officer"))
                await wait_for(pilot, lambda: coach.score.mistakes, rounds=1500)
                assert f"1 mistake:[/] {said}" in str(coach.content)
            for action in step.solution:
                await driver.act(pilot, action)
            await wait_for(pilot, lambda i=index: coach.finished or coach.index > i,
                           rounds=1500)
        await settle(pilot)
    assert coach.score.mistakes == [f"step 2: {said}"]
    assert coach.finished and said in str(coach.content) and "TextUpdated" not in str(
        coach.content)
