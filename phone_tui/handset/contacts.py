"""Seed contacts and bots from seeds/contacts.toml (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from phone_tui.core.documents import is_number, line_in_file, read_toml
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError

MAX_DELAY = 3600.0  # a bot that waits longer than an hour to read or answer is a typo


@dataclass(frozen=True)
class BotRule:
    keywords: tuple[str, ...]
    reply: str


@dataclass(frozen=True)
class SeedContact:
    """A contact every new persona starts with; ``bot`` names its scripted behaviour."""

    name: str
    number: str
    bot: bool = False
    reply_delay: float = 2.0
    read_delay: float = 1.0
    echo: bool = False
    rules: tuple[BotRule, ...] = field(default_factory=tuple)
    default_reply: str | None = None
    answers_calls: bool = False  # a bot that picks up calls (after answer_delay), confirms
    answer_delay: float = 2.0  # the words and stays on until the caller hangs up

    def reply_to(self, text: str) -> str | None:
        """What the bot answers to ``text`` (None: it only reads it)."""
        if self.echo:
            return text
        lowered = text.lower()
        for rule in self.rules:
            if any(keyword in lowered for keyword in rule.keywords):
                return rule.reply
        return self.default_reply


def _text(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, "expected a non-empty string", key=key)
    return value


def _number(path: Path, key: str, value: object, low: float = 0.0) -> float:
    if not is_number(value, low, MAX_DELAY):
        raise ConfigError(path, f"expected a number of seconds from {low:g} to {MAX_DELAY:g}",
                          key=key, line=line_in_file(path, key))
    return float(value)


def _flag(path: Path, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, "expected true or false", key=key)
    return value


def load_contacts(path: Path | None = None) -> list[SeedContact]:
    """seeds/contacts.toml (or a file of that shape); ConfigError names the file and key."""
    path = path or seeds_dir() / "contacts.toml"
    raw = read_toml(path)
    unknown = sorted(set(raw) - {"contact"})
    if unknown:
        raise ConfigError(path, "unknown key (a contacts file holds [[contact]] tables)",
                          key=unknown[0], line=line_in_file(path, unknown[0]))
    entries = raw.get("contact", [])
    if not isinstance(entries, list):
        raise ConfigError(path, "expected an array of [[contact]] tables", key="contact",
                          line=line_in_file(path, "contact"))
    contacts, numbers = [], set()
    for index, entry in enumerate(entries):
        where = f"contact[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(path, "expected a table", key=where)
        known = {"name", "number", "bot", "reply_delay_s", "read_delay_s", "echo", "rule",
                 "default_reply", "answers_calls", "answer_delay_s"}
        for key in entry:
            if key not in known:
                raise ConfigError(path, f"unknown key (known: {', '.join(sorted(known))})",
                                  key=f"{where}.{key}")
        number = _text(path, f"{where}.number", entry.get("number"))
        if number in numbers:
            raise ConfigError(path, f"number {number} appears twice", key=f"{where}.number")
        numbers.add(number)
        entry_rules = entry.get("rule", [])
        if not isinstance(entry_rules, list):
            raise ConfigError(path, "expected [[contact.rule]] tables (when = [...], reply = "
                              "\"...\")", key=f"{where}.rule",
                              line=line_in_file(path, f"{where}.rule"))
        rules = []
        for rule_index, rule in enumerate(entry_rules):
            rule_where = f"{where}.rule[{rule_index}]"
            if not isinstance(rule, dict) or set(rule) - {"when", "reply"} or \
                    not isinstance(rule.get("when"), list) or not rule["when"] or not all(
                    isinstance(word, str) and word for word in rule["when"]):
                raise ConfigError(path, "expected when = [\"keyword\", ...] and reply = \"...\"",
                                  key=rule_where)
            rules.append(BotRule(tuple(word.lower() for word in rule["when"]),
                                 _text(path, f"{rule_where}.reply", rule.get("reply"))))
        default = entry.get("default_reply")
        contacts.append(SeedContact(
            name=_text(path, f"{where}.name", entry.get("name")), number=number,
            bot=_flag(path, f"{where}.bot", entry.get("bot", False)),
            reply_delay=_number(path, f"{where}.reply_delay_s", entry.get("reply_delay_s", 2.0)),
            read_delay=_number(path, f"{where}.read_delay_s", entry.get("read_delay_s", 1.0)),
            echo=_flag(path, f"{where}.echo", entry.get("echo", False)), rules=tuple(rules),
            default_reply=None if default is None else _text(path, f"{where}.default_reply",
                                                                  default),
            answers_calls=_flag(path, f"{where}.answers_calls",
                                entry.get("answers_calls", False)),
            answer_delay=_number(path, f"{where}.answer_delay_s",
                                 entry.get("answer_delay_s", 2.0))))
    return contacts
