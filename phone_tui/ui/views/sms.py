"""The Open OS's SMS app: threads, a thread with its delivery states, a compose line with the
live counter (characters, parts, alphabet). Plain SMS: the carrier reads every text, and the
app says so on every screen."""

from __future__ import annotations

from datetime import UTC, datetime

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from phone_tui.handset.numbers import written
from phone_tui.handset.texts import NOTE, Text, TextError, TextReceived, Texts, TextUpdated
from phone_tui.modem.sms import cost
from phone_tui.modem.sms_pdu import encode_address
from phone_tui.ui import bindings
from phone_tui.ui.notices import plain_line
from phone_tui.ui.shown_text import clean
from phone_tui.ui.views.base import PhoneView, set_text
from phone_tui.ui.widgets.phone_list import PhoneList

NEW = "__new__"
STATE_MARKS = {"sending": "sending\u2026", "sent": "sent \u2713",
               "delivered": "delivered \u2713\u2713", "expired": "expired \u2717",
               "failed": "failed \u2717"}
_NOTE_CSS = "{view} .sms-note {{ height: auto; color: $text-warning; }}"


def _stamp(at: float, utc: bool) -> str:
    moment = datetime.fromtimestamp(at, tz=UTC) if utc else datetime.fromtimestamp(at).astimezone()
    return moment.strftime("%H:%M")


class _SmsView(PhoneView):
    @property
    def texts(self) -> Texts | None:
        return self.handset.texts

    @property
    def utc(self) -> bool:
        return bool(getattr(self.handset.clock, "utc", False))

    def name_of(self, number: str) -> str:
        """A contact's name for an SMS number (contacts are kept with spaces, SMS without),
        else the number as the rest of the phone writes it ("+86 190 4702 7773")."""
        messenger = self.handset.messenger
        if messenger is not None:
            for contact in messenger.contacts():
                if contact.number.replace(" ", "") == number and contact.name:
                    return plain_line(contact.name, 30)
        return written(number)


class SmsView(_SmsView):
    """Threads, newest first, with unread counts."""

    TITLE = "SMS"
    DEFAULT_CSS = ("SmsView OptionList, SmsView OptionList:focus { height: 1fr; }\n"
                   + _NOTE_CSS.format(view="SmsView"))

    def __init__(self) -> None:
        super().__init__(id="sms")

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Static(NOTE, classes="sms-note", id="sms-note", markup=False)
        yield PhoneList(id="sms-threads")

    def on_mount(self) -> None:
        self.refresh_list()

    def on_return(self) -> None:
        self.refresh_list()

    def on_model_event(self, event: object) -> None:
        if isinstance(event, TextReceived | TextUpdated):
            self.refresh_list()

    def refresh_list(self) -> None:
        option_list = self.query_one(OptionList)
        highlighted = option_list.highlighted
        option_list.clear_options()
        texts = self.texts
        if texts is None:
            option_list.add_option(Option("Unlock the phone to read texts.", disabled=True))
            return
        option_list.add_option(Option("[b]+ New text[/]", id=NEW))
        for thread in texts.threads():
            parts: list[tuple[str, str] | str] = [(self.name_of(thread.number), "bold")]
            if thread.unread:
                parts += [" ", (f" {thread.unread} ", "reverse $primary")]
            last = thread.last
            who = "You: " if last.outgoing else ""
            body = plain_line(last.body, 26)
            parts.append((f"\n{_stamp(last.at, self.utc)}  {who}{body}", "$text-muted"))
            option_list.add_option(Option(Content.assemble(*parts), id=thread.number))
        count = option_list.option_count
        option_list.highlighted = min(highlighted if highlighted is not None else 1, count - 1)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == NEW:
            self.handset_view.push(SmsNewView())
        elif event.option.id:
            self.handset_view.push(SmsThreadView(event.option.id))


class SmsNewView(_SmsView):
    """A number to text (typed, or a contact's)."""

    TITLE = "New text"
    DEFAULT_CSS = ("SmsNewView OptionList, SmsNewView OptionList:focus { height: 1fr; }\n"
                   "SmsNewView #sms-to-problem { height: auto; min-height: 1; "
                   "margin-bottom: 1; color: $text-error; }")

    def __init__(self) -> None:
        super().__init__(id="sms-new")

    def compose(self) -> ComposeResult:
        yield self.title_label()
        to = Input(placeholder="Number or name, then Enter", id="sms-to")
        # A blinking cursor would make deterministic screens differ from run to run.
        to.cursor_blink = self.handset.entropy.secure
        yield to
        yield Static("", id="sms-to-problem", markup=False)
        messenger = self.handset.messenger
        # Every contact has a number a text reaches: the scripted ones (the Duty Officer...)
        # answer SMS too.
        contacts = list(messenger.contacts()) if messenger else []
        yield PhoneList(*[Option(Content.assemble(plain_line(c.name, 30),
                                                  (f"\n{c.number}", "$text-muted")),
                                 id=c.number.replace(" ", "")) for c in contacts],
                        id="sms-contacts")

    def focus_default(self) -> None:
        self.focus_now(self.query_one(Input))

    def on_mount(self) -> None:
        self.focus_default()

    def _open(self, number: str) -> None:
        number = number.replace(" ", "")
        if not number:
            return
        view = self.handset_view
        view.pop()
        view.push(SmsThreadView(number))

    def reachable(self, typed: str) -> str | None:
        """What was typed as a number to text: a contact's name picks the contact; else a
        number an SMS can reach ("+86 190...", a short code); None for anything else."""
        from phone_tui.ui.views.phone import number_as_written

        wanted = " ".join(typed.split()).casefold()
        messenger = self.handset.messenger
        for contact in messenger.contacts() if messenger is not None else ():
            if contact.name and " ".join(contact.name.split()).casefold() == wanted:
                return contact.number.replace(" ", "")
        number = number_as_written(typed, self.handset)
        if number is None:
            return None
        try:
            encode_address(number.replace(" ", ""))
        except ValueError:
            return None  # a number, but too long for an SMS address
        return number.replace(" ", "")

    @on(Input.Submitted, "#sms-to")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            return
        number = self.reachable(event.value)
        if number is None:  # refused here, not at Send: the field stays, with why
            set_text(self.query_one("#sms-to-problem", Static),
                     f"{plain_line(event.value, 24)}: no contact has that name, and it is not "
                     "a number an SMS can reach.")
            return
        self._open(number)

    @on(Input.Changed, "#sms-to")
    def _retyped(self, event: Input.Changed) -> None:
        event.stop()
        set_text(self.query_one("#sms-to-problem", Static), "")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._open(event.option.id or "")


class SmsThreadView(_SmsView):
    """One thread: its texts with their states, the note, the compose line and its counter."""

    BINDINGS = bindings.SMS
    DEFAULT_CSS = """
    SmsThreadView #sms-log { height: 1fr; }
    SmsThreadView .sms-in { width: 100%; margin-bottom: 1; }
    SmsThreadView .sms-out { width: 100%; margin-bottom: 1; text-align: right; }
    SmsThreadView #sms-counter { height: 1; color: $text-muted; text-align: right; }
    """ + _NOTE_CSS.format(view="SmsThreadView")

    def __init__(self, number: str) -> None:
        super().__init__(id=f"sms-thread-{abs(hash(number))}")
        self.number = number  # the banner says nothing of this thread's texts while shown
        self._rows: dict[int, Static] = {}  # by text id: an SMS event touches one row

    @property
    def shown_as(self) -> tuple[str, str]:
        return ("sms-thread", self.number)

    @property
    def TITLE(self) -> str:  # type: ignore[override]  # noqa: N802 - a per-instance title
        return f"SMS \u00b7 {self.name_of(self.number)}"

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Static(NOTE, classes="sms-note", id="sms-thread-note", markup=False)
        yield VerticalScroll(id="sms-log")
        compose = Input(placeholder="Text message", id="sms-compose")
        compose.cursor_blink = self.handset.entropy.secure  # as the chat's (deterministic runs)
        yield compose
        yield Static(cost("").describe(), id="sms-counter", markup=False)

    def on_mount(self) -> None:
        self.refresh_texts()
        self.focus_default()

    def focus_default(self) -> None:
        self.focus_now(self.query_one("#sms-compose", Input))

    def on_return(self) -> None:
        self.refresh_texts()

    def on_model_event(self, event: object) -> None:
        if not isinstance(event, TextReceived | TextUpdated) or event.number != self.number:
            return
        texts = self.texts
        if texts is None:
            return
        try:
            text = texts.get(event.text_id)
        except KeyError:
            return
        row = self._rows.get(text.id)
        if row is not None:  # a state changed: that row only, not the whole thread again
            row.update(self._content(text))
            return
        row = self._rows[text.id] = self._row(text)
        log = self.query_one("#sms-log", VerticalScroll)
        log.mount(row)
        log.scroll_end(animate=False)
        texts.mark_read(self.number)

    def refresh_texts(self) -> None:
        texts = self.texts
        log = self.query_one("#sms-log", VerticalScroll)
        log.remove_children()
        self._rows = {}
        if texts is None:
            return
        thread = texts.thread(self.number)
        rows = [self._row(text) for text in thread]
        self._rows = {text.id: row for text, row in zip(thread, rows, strict=True)}
        if rows:
            log.mount_all(rows)
            log.scroll_end(animate=False)
        texts.mark_read(self.number)

    def _row(self, text: Text) -> Static:
        return Static(self._content(text), classes="sms-out" if text.outgoing else "sms-in")

    def _content(self, text: Text) -> Content:
        stamp = _stamp(text.at, self.utc)
        parts = f" \u00b7 {text.parts} SMS" if text.parts > 1 else ""
        if text.outgoing:
            state = STATE_MARKS.get(text.state, text.state)
            why = f"\n{text.reason}" if text.reason and text.state in ("failed", "expired") \
                else ""
            meta = f"{stamp}{parts} \u00b7 {state}{why}"
        else:
            meta = f"{stamp}{parts}" + (f" \u00b7 {text.reason}" if text.reason else "")
        # The body is the sender's words, not markup: a "[" in it is a bracket; and a format
        # character (a bidi override) or a control kept in an old store shows as an escape.
        return Content.assemble(clean(text.body, body=True), "\n", (meta, "$text-muted"))

    @on(Input.Changed, "#sms-compose")
    def _typing(self, event: Input.Changed) -> None:
        event.stop()
        set_text(self.query_one("#sms-counter", Static), cost(event.value).describe())

    @on(Input.Submitted, "#sms-compose")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_send()

    def action_send(self) -> None:
        compose = self.query_one("#sms-compose", Input)
        text = compose.value.strip()
        if not text:
            return
        try:
            self.handset.send_sms(self.number, text)
        except TextError as problem:
            self.notify(str(problem), title="Not sent", severity="error")
            return
        compose.value = ""  # its row comes with the text's event
