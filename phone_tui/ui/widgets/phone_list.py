"""The phone's lists: an OptionList that leaves the Home key to the phone."""

from __future__ import annotations

from textual.widgets import OptionList

from phone_tui.ui import bindings


class PhoneList(OptionList, inherit_bindings=False):
    """OptionList's keys but Home, which goes to the home screen as on every other view (a
    focused OptionList took it for "first option", so Home did nothing in Settings)."""

    BINDINGS = bindings.PHONE_LIST
