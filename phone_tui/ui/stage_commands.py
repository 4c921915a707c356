"""The presenter's commands in the palette: every control, for every phone or all of them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from phone_tui.ui.commands import CommandList


class StageCommands(CommandList):
    """Link profiles (all phones or one), signal, airplane mode, a bot's message, a man in
    the middle, the tap, focus and reset."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        stage = app.stage  # type: ignore[attr-defined]
        commands: list[tuple[str, str, Callable[[], object]]] = []
        for index, phone in enumerate(stage.phones):
            name = phone.name
            commands += [
                (f"Focus {name}", f"Phone {index + 1}: keys go to it",
                 partial(app.set_active, index)),  # type: ignore[attr-defined]
                (f"{name}: drop the signal / give it back", "As in a lift or a shielded room",
                 partial(app.action_drop_signal, index)),  # type: ignore[attr-defined]
                (f"{name}: airplane mode on/off", "Off the network: messages queue",
                 partial(app.action_airplane, index)),  # type: ignore[attr-defined]
                (f"{name}: a message from a bot", "The Duty Officer writes to this phone",
                 partial(app.action_inject, index)),  # type: ignore[attr-defined]
                (f"{name}: man in the middle", "On / off: the carrier steps between this "
                 "phone and the next: new keys, their messages read, their calls bridged "
                 "(the words differ)", partial(app.action_impersonate, index)),  # type: ignore[attr-defined]
                (f"{name}: call the next phone", "An end-to-end encrypted call between two "
                 "stage phones", partial(app.action_call, index)),  # type: ignore[attr-defined]
                (f"{name}: fake base station on/off", "A rogue 2G cell with no cipher next "
                 "to this phone: it asks for the IMSI and relays to the real network",
                 partial(app.action_fake_cell, index)),  # type: ignore[attr-defined]
            ]
        for profile_name, profile in app._profiles.items():  # type: ignore[attr-defined]
            commands.append((f"All phones: link profile {profile.label}",
                             f"Emulate {profile_name} on every phone",
                             partial(app.set_profile, profile_name)))  # type: ignore[attr-defined]
            for index, phone in enumerate(stage.phones):
                commands.append((f"{phone.name}: link profile {profile.label}",
                                 f"Emulate {profile_name} on phone {index + 1}",
                                 partial(app.set_profile, profile_name, index)))  # type: ignore[attr-defined]
        commands += [
            ("Pause / resume the operator tap", "Freeze the carrier's view while you explain",
             app.action_toggle_tap),  # type: ignore[attr-defined]
            ("Operator tap: every frame / messages only", "Show acknowledgements, "
             "keep-alives and calls' control frames too, or not", app.action_tap_all_frames),  # type: ignore[attr-defined]
            ("Tap pane: frames / intercept records", "The carrier's lawful-intercept view "
             "(HI2/HI3): a plain SMS's text, an E2E message's metadata", app.action_tap_mode),  # type: ignore[attr-defined]
            ("Export the intercept records", "This session's records as JSON lines in a new "
             "file of the stage folder", app.action_export_intercept),  # type: ignore[attr-defined]
            ("Reset the stage", "Wipe and set up every demo phone again (asks first)",
             app.action_reset_stage),  # type: ignore[attr-defined]
        ]
        return commands
