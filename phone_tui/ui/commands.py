"""The command palette's handset commands, offered according to the phone's state."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from phone_tui.handset.handset import HandsetState


class CommandList(Provider):
    """A provider whose commands are a list of (title, help, callback) from ``_commands``."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        raise NotImplementedError

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class HandsetCommands(CommandList):
    """Lock, Home, Settings pages and themes for the focused handset."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        view = app.active_handset_view()  # type: ignore[attr-defined]
        commands: list[tuple[str, str, Callable[[], object]]] = []
        if view is not None and view.handset.answering_locked:
            return self._call_commands(view)  # the phone was opened for this call only
        if view is not None and view.handset.state is HandsetState.UNLOCKED:
            commands += [
                ("Lock the phone", "Lock now; the PIN is needed again", view.action_lock),
                ("Go to the home screen", "Show the app grid", view.action_home),
                ("Open Settings", "About, PIN, theme, auto-lock", partial(view.open_app,
                                                                          "settings")),
                ("Open Messages", "Your encrypted conversations",
                 partial(view.open_app, "messages")),
                ("Open Network", "Link profile, registration, live figures",
                 partial(view.open_app, "network")),
                ("Open Phone", "Call a contact or a number; the call log",
                 partial(view.open_app, "phone")),
            ]
            if view.handset.persona_info.plain_sms:
                commands.append(("Open SMS", "Plain text messages (the carrier can read them)",
                                 partial(view.open_app, "sms")))
            calls = getattr(view.handset, "calls", None)
            info = calls.current if calls is not None else None
            if info is not None and info.state != "ended":
                commands += [("Back to the call", f"The call with {info.name or info.number}",
                              view.action_to_call),
                             ("Hang up", "End the call", calls.hangup)]
                if info.state == "connected":
                    commands += [
                        ("Mute" if not info.muted else "Unmute", "Your microphone",
                         partial(calls.set_mute, not info.muted)),
                        ("Hold the call" if not info.held else "Resume the call", "Hold",
                         partial(calls.set_hold, not info.held))]
                if info.direction == "incoming" and info.state == "ringing" \
                        and not info.locked:
                    commands += [("Answer the call", "Answer", calls.answer),
                                 ("Decline the call", "Decline", calls.decline)]
            elif view.handset.messenger is not None:
                for contact in view.handset.messenger.contacts():
                    if contact.number != "echo":
                        commands.append((f"Call {contact.name}", "End-to-end encrypted call",
                                         partial(self._call, view, contact.number)))
                        if view.handset.persona_info.plain_calls:
                            commands.append((
                                f"Carrier call to {contact.name}",
                                "Not end-to-end encrypted: the carrier can listen",
                                partial(self._call, view, contact.number, plain=True)))
            for entry, title in (("about", "About this phone"), ("change_pin", "Change PIN"),
                                 ("auto_lock", "Set the auto-lock timeout"),
                                 ("network_security", "Network security")):
                commands.append((title, "Settings", partial(self._open_setting, view, entry)))
        if view is not None and not view.booting:
            handset = view.handset
            other = handset.device.personas[handset.other].os_name
            commands.append((f"Switch OS to {other}", "Lock this OS, boot the other (asks first)",
                             view.action_switch_os))
        modem = view.handset.modem if view is not None else None
        if modem is not None:
            on = not modem.airplane
            commands.append((f"Airplane mode {'on' if on else 'off'}",
                             "Leave the network; messages wait" if on else "Register again",
                             partial(view.set_airplane, on)))  # type: ignore[union-attr]
            for name, profile in view.handset.profiles.items():  # type: ignore[union-attr]
                commands.append((f"Link profile: {profile.label}",
                                 f"Emulate {profile.label} conditions",
                                 partial(view.set_link_profile, name)))  # type: ignore[union-attr]
        for name in app.phone_theme_names():  # type: ignore[attr-defined]
            commands.append((f"Theme: {name}", "Switch the colour theme and remember it",
                             partial(app.apply_theme, name, save=True)))  # type: ignore[attr-defined]
        return commands

    @staticmethod
    def _call_commands(view) -> list[tuple[str, str, Callable[[], object]]]:  # noqa: ANN001
        calls = view.handset.calls
        info = calls.current if calls is not None else None
        if calls is None or info is None or info.state == "ended":
            return []
        commands = [("Back to the call", f"The call with {info.name or info.number}",
                     view.action_to_call), ("Hang up", "End the call", calls.hangup)]
        if info.state == "connected":
            commands += [("Mute" if not info.muted else "Unmute", "Your microphone",
                          partial(calls.set_mute, not info.muted)),
                         ("Speaker on" if not info.speaker else "Speaker off", "Loudspeaker",
                          partial(calls.set_speaker, not info.speaker)),
                         ("Hold the call" if not info.held else "Resume the call", "Hold",
                          partial(calls.set_hold, not info.held))]
        commands.append(("Unlock the phone", "The PIN opens the rest of the phone; the call "
                         "goes on", partial(view.push_call_unlock)))
        return commands

    @staticmethod
    def _call(view, number: str, plain: bool = False) -> None:  # noqa: ANN001 - HandsetView
        from phone_tui.ui.views.phone import dial

        top = view.top
        if top is not None:
            dial(top, number, plain=plain)

    @staticmethod
    def _open_setting(view, entry: str) -> None:  # noqa: ANN001 - HandsetView
        from phone_tui.ui.views.settings import SettingsView

        view.action_home()
        view.open_app("settings")
        settings = view.top
        if isinstance(settings, SettingsView):
            settings.call_after_refresh(settings.open_entry, entry)
