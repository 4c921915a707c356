"""Words a new user reads name what they mean: the OS that is wiped, the radios on."""

from __future__ import annotations

from textual.widgets import Static

from phone_tui.testing import SIZE, enter_pin, set_up
from phone_tui.ui.handset_view import HandsetView
from phone_tui.ui.views.lock import LockView

WRONG = "111222"


def top(app):
    return app.query_one(HandsetView).top


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_lock_screen_wrong_pin_names_the_os_that_would_be_wiped(app_factory, handset):
    await set_up(handset)
    app = app_factory(handset=handset)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(top(app), LockView)
        await enter_pin(pilot, WRONG)
        message = text_of(app, "#pin-message")
        assert "9 attempts left before the Secure OS is wiped." in message
        assert "phone" not in message
