"""The fixtures (clock, entropy, data_dir, handset, app_factory, stage_factory, flow_runner)
come from phone_tui.testing, which phone-tui installs as a pytest plugin."""

import logging
import os

import pytest


def pytest_xdist_auto_num_workers(config):  # noqa: ARG001 - pytest-xdist's hook
    """``-n auto`` (addopts): two workers per core. Most UI tests spend half their time waiting
    (Pilot's idle checks, timers, subprocesses), so one per core leaves the cores half idle."""
    return 2 * len(os.sched_getaffinity(0))


@pytest.fixture(autouse=True)
def _restore_phone_tui_logger():
    """setup_logging() points the phone_tui logger at a file and stops it propagating; undo
    that after each test, so a later test's caplog sees its records whatever ran before."""
    logger = logging.getLogger("phone_tui")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    for handler in list(logger.handlers):
        if handler not in handlers:
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(level)
    logger.propagate = propagate

