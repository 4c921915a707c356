"""The Messages app: conversations, a chat, a contact's safety number, a new conversation."""

from __future__ import annotations

from datetime import UTC, datetime

from textual import events, on
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Button, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option, OptionDoesNotExist

from phone_tui.crypto.fingerprint import grouped
from phone_tui.handset.disappearing import timer_label
from phone_tui.handset.messenger import (
    TIMER_PRESETS,
    ContactVerified,
    IdentityChanged,
    Message,
    MessageReceived,
    MessageUpdated,
    Messenger,
    MessengerError,
    SessionNotice,
)
from phone_tui.ui import bindings
from phone_tui.ui.views.base import ChoiceView, PhoneView, set_text
from phone_tui.ui.widgets.button_row import ButtonRow, RowButton
from phone_tui.ui.widgets.chat_log import ChatLog
from phone_tui.ui.widgets.phone_list import PhoneList
from phone_tui.ui.widgets.qr import QRCode

_LIST_CSS = "{view} OptionList, {view} OptionList:focus {{ height: 1fr; }}"
NEW = "__new__"


def _stamp(at: float, utc: bool) -> str:
    moment = datetime.fromtimestamp(at, tz=UTC) if utc else datetime.fromtimestamp(at).astimezone()
    return moment.strftime("%H:%M")


def result_content(body: str, words: str, width: int = 60) -> Content:
    """A search result's text: at most ``width`` characters around the first match of
    ``words`` (case-insensitive, as the search is), cut with "…", the match highlighted. It is
    Content, not markup: a body is the sender's words, and any "[" in it is a bracket."""
    flat = " ".join(body.split())
    found = flat.lower().find(" ".join(words.split()).lower())
    length = len(" ".join(words.split()))
    if found < 0:
        found, length = 0, 0
    start = 0
    if len(flat) > width:
        # The match with some words before it in view (a third of the width), where possible.
        start = max(0, min(found - width // 3, len(flat) - width))
    end = min(len(flat), start + width)
    head = "…" if start > 0 else ""
    tail = "…" if end < len(flat) else ""
    if start > 0:
        start += 1  # room for the ellipsis
    if end < len(flat):
        end -= 1
    match_end = min(found + length, end)
    before, match, after = (flat[start:max(start, found)], flat[max(start, found):match_end],
                            flat[max(start, match_end):end])
    return Content.assemble(head, before, (match, "bold reverse"), after, tail)


def call_contact(view: PhoneView, number: str) -> None:
    """Call ``number``, or go back to the call with it that is already under way."""
    from phone_tui.ui.views.phone import dial

    calls = getattr(view.handset, "calls", None)
    current = calls.current if calls is not None else None
    if current is not None and current.number == number and current.state != "ended":
        view.handset_view.action_to_call()
        return
    dial(view, number)


class _MessengerView(PhoneView):
    @property
    def messenger(self) -> Messenger | None:
        return self.handset.messenger

    @property
    def utc(self) -> bool:
        return bool(getattr(self.handset.clock, "utc", False))


class MessagesView(_MessengerView):
    """Conversations, newest first, with unread counts."""

    TITLE = "Messages"
    DEFAULT_CSS = _LIST_CSS.format(view="MessagesView")

    def __init__(self) -> None:
        super().__init__(id="messages")
        self._placed: int | None = None  # where the list put the highlight itself

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield PhoneList(id="conversation-list")

    def on_mount(self) -> None:
        self.refresh_list()

    def on_return(self) -> None:
        self.refresh_list()

    def on_model_event(self, event: object) -> None:
        if isinstance(event, MessageReceived | MessageUpdated | IdentityChanged):
            self.refresh_list()

    def refresh_list(self) -> None:
        option_list = self.query_one(OptionList)
        # The list is newest first, so a message reorders it: a highlight the user moved stays
        # on its conversation, not on its row (Enter would open someone else's chat); one the
        # list placed itself stays on the newest conversation, where it opened.
        highlighted = option_list.highlighted
        placed = highlighted is not None and highlighted == self._placed
        chosen = (option_list.get_option_at_index(highlighted).id
                  if highlighted is not None and highlighted < option_list.option_count
                  and not placed else None)
        option_list.clear_options()
        messenger = self.messenger
        if messenger is None:
            option_list.add_option(Option("No network yet: the messenger starts when the "
                                          "phone registers.", disabled=True))
            return
        option_list.add_option(Option("[b]+ New conversation[/]", id=NEW))
        for conversation in messenger.conversations():
            # Names and bodies are words, not markup: built as Content, a "[" in them (even
            # one cut in half by the preview's length) is a bracket.
            parts: list[tuple[str, str] | str] = [(conversation.name, "bold")]
            if conversation.unread:
                parts += [" ", (f" {conversation.unread} ", "reverse $primary")]
            last = conversation.last
            if last is not None:
                who = "You: " if last.outgoing else ""
                body = " ".join(last.body.split())
                parts.append((f"\n{_stamp(last.at, self.utc)}  {who}{body[:28]}"
                              f"{'…' if len(body) > 28 else ''}", "$text-muted"))
            option_list.add_option(Option(Content.assemble(*parts), id=conversation.number))
        if chosen is not None:
            try:
                option_list.highlighted = option_list.get_option_index(chosen)
            except OptionDoesNotExist:
                option_list.highlighted = min(highlighted or 0, option_list.option_count - 1)
        elif highlighted is not None and not placed:
            option_list.highlighted = min(highlighted, option_list.option_count - 1)
        else:
            # Opened: on the newest conversation (or "+ New conversation" when there is none),
            # so Enter opens something straight away.
            option_list.highlighted = self._placed = min(1, option_list.option_count - 1)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        # The user moved the highlight (ours only ever puts it on the newest): from now on it
        # follows the conversation it is on.
        if event.option_index != self._placed:
            self._placed = None

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == NEW:
            self.handset_view.push(NewConversationView())
        elif event.option.id:
            self.handset_view.push(ChatView(event.option.id))


class NewConversationView(_MessengerView):
    TITLE = "New conversation"
    DEFAULT_CSS = _LIST_CSS.format(view="NewConversationView")

    def __init__(self) -> None:
        super().__init__(id="new-conversation")

    def compose(self) -> ComposeResult:
        yield self.title_label()
        messenger = self.messenger
        contacts = messenger.contacts() if messenger else []
        yield PhoneList(*[Option(Content.assemble(c.name, (f"\n{c.number}", "$text-muted")),
                                 id=c.number)
                           for c in contacts], id="contact-list")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        number = event.option.id or ""
        view = self.handset_view
        view.pop()
        view.push(ChatView(number))


class ComposeArea(TextArea):
    """The chat's compose box. It takes the chat's Send key (Ctrl+S, or what the keymap made
    it) itself, in the order keys come: Textual runs a binding only once its key has bubbled up
    to the app, by when the characters typed after it in a burst are in the box already, and
    "one" Ctrl+S "two" Ctrl+S went as one message "onetwo"."""

    async def _on_key(self, event: events.Key) -> None:
        active = self.screen.active_bindings.get(event.key)
        if active is not None and active.binding.action == "send" and active.enabled \
                and isinstance(active.node, ChatView):
            event.stop()
            event.prevent_default()
            active.node.action_send()  # reads the box now, before the keys after this one
            return
        await super()._on_key(event)


class ChatView(_MessengerView):
    """One conversation: the history, the encryption banner, the compose box."""

    # Not a priority binding: Ctrl+S then reaches the chat after the compose box has taken
    # every key typed before it, however fast they came (a priority binding runs on arrival,
    # ahead of the keys still queued for the box, and sent a line's first letter).
    BINDINGS = bindings.CHAT
    PAGE = 200  # messages fetched at a time
    WINDOW = 1000  # messages held at most; the rest stay in the store until scrolled to
    DEFAULT_CSS = """
    ChatView #chat-banner { height: 1; color: $success; text-align: center; }
    ChatView #chat-warning { height: auto; color: $text-error; background: $error 15%;
                             padding: 0 1; display: none; }
    ChatView.-identity-changed #chat-warning { display: block; }
    ChatView #chat-compose { height: 4; border: round $panel-lighten-2; }
    ChatView #chat-compose:focus { border: round $primary; }
    ChatView #chat-buttons { height: 1; }
    ChatView #chat-buttons Button { margin-right: 2; min-width: 10; }
    /* Calling is blocked too until the new number is accepted: its button makes room. */
    ChatView.-identity-changed #chat-call { display: none; }
    /* Three buttons at their usual width leave "Accept new number" 4: fit them to labels. */
    ChatView.-identity-changed #chat-buttons Button { min-width: 0; }
    """

    def __init__(self, number: str) -> None:
        super().__init__(id=f"chat-{abs(hash(number))}")
        self.number = number
        self._at_newest = True

    @property
    def shown_as(self) -> tuple[str, str]:
        return ("chat", self.number)

    @property
    def TITLE(self) -> str:  # type: ignore[override]  # noqa: N802 - a per-instance title
        contact = self.messenger.contact(self.number) if self.messenger else None
        return contact.name if contact else self.number

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Static("end-to-end encrypted", id="chat-banner")
        yield ChatLog(utc=self.utc, id="chat-log")
        # Pinned above the compose box while the change is unresolved; the log has a notice
        # at the point of the change.
        yield Static("", id="chat-warning")
        compose = ComposeArea(id="chat-compose", soft_wrap=True, show_line_numbers=False)
        # A blinking cursor would make deterministic screens differ from run to run.
        compose.cursor_blink = self.handset.entropy.secure
        yield compose
        with ButtonRow(id="chat-buttons"):
            yield Button("Send", id="chat-send", compact=True, variant="primary")
            yield Button("Info", id="chat-info", compact=True)
            yield Button("☏ Call", id="chat-call", compact=True, variant="success")
            yield Button("Accept new number", id="chat-accept", compact=True,
                         variant="warning")

    def on_mount(self) -> None:
        self.open()
        self.query_one(TextArea).focus()

    def focus_default(self) -> None:
        self.focus_now(self.query_one(TextArea))

    def on_return(self) -> None:
        self.refresh_messages()

    def on_model_event(self, event: object) -> None:
        if isinstance(event, MessageReceived | MessageUpdated | IdentityChanged
                      | ContactVerified | SessionNotice) \
                and getattr(event, "number", None) == self.number:
            self.refresh_messages()

    def open(self) -> None:
        """As Signal opens a chat: at the first unread message (the ones before it above),
        else at the newest; then the conversation is read."""
        messenger = self.messenger
        if messenger is None:
            return
        first_unread = messenger.first_unread_id(self.number)
        newest = messenger.history(self.number, limit=self.PAGE)
        log = self.query_one(ChatLog)
        if first_unread is None or any(m.id == first_unread for m in newest):
            log.open_at(newest, first_unread)
            self._at_newest = True
        else:
            # More unread than a page: a page from the first unread, a few before it.
            window = (messenger.history(self.number, before_id=first_unread, limit=10)
                      + messenger.history_after(self.number, first_unread - 1, self.PAGE))
            self._at_newest = self._ends_at_newest(window)
            log.open_at(window, first_unread)
        self._after_load()

    def reload(self) -> None:
        """Show the newest page at the bottom (and mark the conversation read)."""
        messenger = self.messenger
        if messenger is None:
            return
        self.query_one(ChatLog).set_messages(messenger.history(self.number, limit=self.PAGE))
        self._at_newest = True
        self._after_load()

    def refresh_messages(self) -> None:
        """The loaded messages again, with what came or changed since: the log keeps its
        place (at the bottom it shows what came)."""
        messenger = self.messenger
        if messenger is None:
            return
        log = self.query_one(ChatLog)
        loaded = list(log.messages)
        if not loaded:
            messages = messenger.history(self.number, limit=self.PAGE)
        elif self._at_newest:
            messages = messenger.history_after(self.number, loaded[0].id - 1, self.WINDOW)
            self._at_newest = len(messages) < self.WINDOW or self._ends_at_newest(messages)
        else:
            messages = messenger.history_after(self.number, loaded[0].id - 1, len(loaded))
        log.update_messages(messages)
        self._after_load()

    def _ends_at_newest(self, messages: list[Message]) -> bool:
        """Whether ``messages`` (oldest first) reach the conversation's newest message: one
        indexed look-up for a newer one. (``id_range``, a min and a max together, walked the
        whole conversation: 21 ms of a jump to the top of 100 000 messages.)"""
        messenger = self.messenger
        return (not messages or messenger is None
                or not messenger.history_after(self.number, messages[-1].id, 1))

    def _after_load(self) -> None:
        messenger = self.messenger
        if messenger is None:
            return
        messenger.mark_read(self.number)
        contact = messenger.contact(self.number)
        changed = contact is not None and contact.new_identity is not None
        self.set_class(changed, "-identity-changed")
        self.query_one("#chat-accept").display = changed
        if changed:
            set_text(self.query_one("#chat-warning", Static),
                     "⚠ The safety number changed. Sending is blocked: compare the new number "
                     "(Info), then accept it.")

    # ---- paging through a long history -------------------------------------------------------

    @on(ChatLog.NearEdge)
    def _near_edge(self, event: ChatLog.NearEdge) -> None:
        event.stop()
        if event.edge == "top":
            self.load_older()
        else:
            self.load_newer()

    def load_older(self) -> int:
        log, messenger = self.query_one(ChatLog), self.messenger
        loaded = list(log.messages)
        if messenger is None or not loaded:
            return 0
        older = messenger.history(self.number, before_id=loaded[0].id, limit=self.PAGE)
        if not older:
            return 0
        combined = older + loaded
        if len(combined) > self.WINDOW:
            combined = combined[:self.WINDOW]
            self._at_newest = False
        position = log.scroll_y
        log.set_messages(combined, keep_bottom=False)
        log.scroll_to(y=position + log.lines_for(len(older), first=True), animate=False,
                      immediate=True)
        return len(older)

    def load_newer(self) -> int:
        log, messenger = self.query_one(ChatLog), self.messenger
        loaded = list(log.messages)
        if messenger is None or not loaded or self._at_newest:
            return 0
        newer = messenger.history_after(self.number, loaded[-1].id, self.PAGE)
        self._at_newest = len(newer) < self.PAGE
        drop = max(0, len(loaded) + len(newer) - self.WINDOW)
        removed = log.lines_for(drop, first=True)
        position = log.scroll_y
        log.set_messages(loaded[drop:] + newer, keep_bottom=False)
        log.scroll_to(y=max(0, position - removed), animate=False, immediate=True)
        return len(newer)

    def action_top(self) -> None:
        """Jump to the first message of the conversation."""
        messenger = self.messenger
        if messenger is None:
            return
        first_page = messenger.history_after(self.number, 0, self.PAGE)
        self._at_newest = self._ends_at_newest(first_page)
        log = self.query_one(ChatLog)
        log.set_messages(first_page, keep_bottom=False)
        log.scroll_home(animate=False, immediate=True)

    def action_bottom(self) -> None:
        self.reload()

    def action_search(self) -> None:
        self.handset_view.push(SearchView(self.number))

    def show_around(self, message_id: int) -> None:
        """Load the messages around ``message_id`` and scroll to it (from a search result)."""
        messenger = self.messenger
        if messenger is None:
            return
        half = self.PAGE // 2
        window = (messenger.history(self.number, before_id=message_id + 1, limit=half)
                  + messenger.history_after(self.number, message_id, half))
        self._at_newest = self._ends_at_newest(window)
        log = self.query_one(ChatLog)
        log.set_messages(window, keep_bottom=False)
        log.scroll_to_message(message_id, mark=True)

    # A search result stays marked until the next key (the compose box takes printable keys
    # and arrows itself, so its changes count as keys too).
    def on_key(self, _event: events.Key) -> None:
        self.query_one(ChatLog).unmark()

    @on(TextArea.Changed)
    @on(TextArea.SelectionChanged)
    def _typed(self) -> None:
        self.query_one(ChatLog).unmark()

    def action_send(self) -> None:
        compose = self.query_one(TextArea)
        text = compose.text.strip()
        messenger = self.messenger
        if not text or messenger is None:
            return
        try:
            messenger.send_text(self.number, text)
        except MessengerError as problem:
            self.notify(str(problem), title="Not sent", severity="error")
            return
        compose.text = ""
        self.reload()

    def action_info(self) -> None:
        self.handset_view.push(ContactInfoView(self.number))

    def action_call(self) -> None:
        call_contact(self, self.number)

    @on(Button.Pressed, "#chat-call")
    def _call_pressed(self) -> None:
        self.action_call()

    @on(Button.Pressed, "#chat-send")
    def _send_pressed(self) -> None:
        self.action_send()

    @on(Button.Pressed, "#chat-info")
    def _info_pressed(self) -> None:
        self.action_info()

    @on(Button.Pressed, "#chat-accept")
    def _accept_pressed(self) -> None:
        if self.messenger is not None:
            self.messenger.accept_identity(self.number)
            self.reload()


class SearchView(_MessengerView):
    """Search one conversation; choosing a result shows it in the chat."""

    TITLE = "Search"
    DEFAULT_CSS = _LIST_CSS.format(view="SearchView") + """
    SearchView Input { margin-bottom: 1; }
    SearchView #search-count { height: 1; color: $text-muted; }
    """

    def __init__(self, number: str) -> None:
        super().__init__(id="search")
        self.number = number

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Input(placeholder="words to find, then Enter", id="search-input")
        yield Static("", id="search-count")
        yield PhoneList(id="search-results")

    @on(Input.Submitted)
    def _search(self, event: Input.Submitted) -> None:
        event.stop()
        messenger = self.messenger
        results = self.query_one(OptionList)
        results.clear_options()
        if messenger is None or not event.value.strip():
            return
        words = event.value.strip()
        found = messenger.search(self.number, words)
        set_text(self.query_one("#search-count", Static),
                 f"{len(found)} message{'s' if len(found) != 1 else ''}")
        contact = messenger.contact(self.number)
        name = contact.name if contact else self.number
        for message in found[-200:]:
            who = "You" if message.outgoing else name
            results.add_option(Option(Content.assemble(
                (f"{_stamp(message.at, self.utc)} {who}", "$text-muted"), "  ",
                result_content(message.body, words)), id=str(message.id)))
        if found:
            results.highlighted = results.option_count - 1
            results.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        view = self.handset_view
        view.pop()
        chat = view.top
        if isinstance(chat, ChatView):
            chat.show_around(int(event.option.id or 0))


class ContactInfoView(_MessengerView):
    """The contact's number, safety number (12 groups of 5), verification and timer."""

    TITLE = "Contact info"
    DEFAULT_CSS = """
    ContactInfoView { overflow-y: auto; }
    ContactInfoView #info-text { height: auto; margin-bottom: 1; }
    ContactInfoView #info-number { height: auto; text-style: bold; margin-bottom: 1; }
    ContactInfoView #info-qr { width: 1fr; content-align-horizontal: center; }
    ContactInfoView Horizontal { height: 1; margin-bottom: 1; }
    ContactInfoView Button { margin-right: 2; }
    /* Done, not unavailable: "✓ Verified" in the theme's success colour at full strength
       (a disabled button is drawn at 60 %, dark green on dark teal). */
    ContactInfoView #info-verify.-done:disabled { color: $text-success; background: $surface;
                                                  text-opacity: 100%; text-style: bold; }
    """

    def __init__(self, number: str) -> None:
        super().__init__(id="contact-info")
        self.number = number

    @property
    def shown_as(self) -> tuple[str, str]:
        return ("contact-info", self.number)

    def compose(self) -> ComposeResult:
        yield self.title_label()
        yield Static("", id="info-text")
        yield Static("", id="info-number")
        # The buttons before the code: in the phone's height they stay in view, the code
        # below them is for the other phone's camera.
        with ButtonRow(id="info-buttons"):
            yield RowButton("Mark verified", id="info-verify", variant="success")
            yield RowButton("Timer", id="info-timer")
            yield RowButton("☏ Call", id="info-call")
        yield QRCode(id="info-qr")

    def on_mount(self) -> None:
        self.refresh_info()

    def on_model_event(self, event: object) -> None:
        if getattr(event, "number", None) == self.number:
            self.refresh_info()

    def refresh_info(self) -> None:
        messenger = self.messenger
        contact = messenger.contact(self.number) if messenger else None
        if messenger is None or contact is None:
            return
        state = ("[b $text-error]safety number changed[/]" if contact.new_identity else
                 "[b $success]verified[/]" if contact.verified else "not verified")
        set_text(self.query_one("#info-text", Static), Content.assemble(
            (contact.name, "bold"), f" · {contact.number}\nStatus: ",
            Content.from_markup(state),
            f"\nDisappearing messages: {timer_label(contact.timer)}\n"
            "Compare these digits with the ones on their phone:"))
        number = messenger.safety_number(self.number)
        groups = grouped(number) if number else []
        text = ("\n".join(" ".join(groups[row:row + 4]) for row in range(0, len(groups), 4))
                if groups else "No safety number yet: exchange a message first.")
        set_text(self.query_one("#info-number", Static), text)
        verify = self.query_one("#info-verify", Button)
        verified = contact.verified and contact.new_identity is None
        verify.label = "✓ Verified" if verified else "Mark verified"
        verify.disabled = verified
        verify.set_class(verified, "-done")
        row = self.query_one(ButtonRow)
        if self.screen.focused is None or self.screen.focused is verify:
            # A disabled button cannot hold the keyboard: its neighbour in the row takes it,
            # so the arrows, Enter and Escape go on working.
            row.focus_button()
        # The same 60 digits on both phones: one can scan the other's code.
        self.query_one(QRCode).show(number or "")

    @on(Button.Pressed, "#info-verify")
    def _verify(self) -> None:
        messenger = self.messenger
        if messenger is None or messenger.safety_number(self.number) is None:
            return
        contact = messenger.contact(self.number)
        if contact is not None and contact.new_identity is not None:
            messenger.accept_identity(self.number)
        messenger.mark_verified(self.number)
        self.refresh_info()

    @on(Button.Pressed, "#info-call")
    def _call(self) -> None:
        call_contact(self, self.number)

    @on(Button.Pressed, "#info-timer")
    def _timer(self) -> None:
        messenger = self.messenger
        contact = messenger.contact(self.number) if messenger else None
        if messenger is None or contact is None:
            return
        self.handset_view.push(DisappearingView(self.number))

    def focus_default(self) -> None:
        # Back from the timer: on the button that opened it.
        self.query_one(ButtonRow).focus_button()

    def on_return(self) -> None:
        self.refresh_info()


class DisappearingView(ChoiceView, _MessengerView):
    """The conversation's disappearing-message timer, one of Signal's presets."""

    TITLE = "Disappearing messages"
    LIST_ID = "timer-list"

    def __init__(self, number: str) -> None:
        super().__init__(id="disappearing")
        self.number = number

    def choices(self) -> list[tuple[str, str]]:
        return [(str(seconds), timer_label(seconds)) for seconds in TIMER_PRESETS]

    def current(self) -> str:
        contact = self.messenger.contact(self.number) if self.messenger else None
        return str(contact.timer) if contact else ""

    def choose(self, value: str) -> None:
        if self.messenger is not None:
            self.messenger.set_timer(self.number, int(value or 0))
