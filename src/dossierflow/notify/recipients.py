"""The recipients file (danh sách người nhận cảnh báo): who hears about which unit, and how.

A YAML file, one per province, maps each unit code to its heads (thủ trưởng) and deputies
(cấp phó), lists the province operations desk (trực ban Trung tâm phục vụ hành chính công),
and sets per-kind routing rules. Each person has a stable `id` (deliveries and digests are
recorded per id, so an e-mail address may change without re-sending anything), the
channels to use, a language (`vi` by default) and the hours at which they may be reached
(`office`: held outside the working calendar's office hours and sent as one digest at the
next opening; `always`: sent at once, e.g. an operations system's webhook).

Errors name the file, the line and the field: msgspec validates the loaded data and reports
a path such as `$.units.S-TP.heads[0].email`; the path is looked up in the YAML node tree,
which keeps the line of every node.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

import msgspec
import yaml

from dossierflow.rules.alerts import AlertKind
from dossierflow.rules.catalog import Unit


class Channel(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    ZALO = "zalo"


class Hours(enum.StrEnum):
    OFFICE = "office"
    ALWAYS = "always"


class RecipientsError(ValueError):
    """A recipients file that cannot be used; the message names file, line and field."""

    def __init__(self, source: str, line: int | None, where: str, problem: str) -> None:
        self.source, self.line, self.where, self.problem = source, line, where, problem
        place = f"{source}:{line}" if line is not None else source
        super().__init__(f"{place}: {where}: {problem}")


Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, msgspec.Meta(pattern=r"^84\d{8,10}$")]
"""Zalo ZNS wants the international form without `+`: 84 then the subscriber number."""
PersonId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


_SECRET = re.compile(r"^(whsec_)?[A-Za-z0-9+/]{24,}={0,2}$")


class WebhookTarget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://")]
    secret: Annotated[str, msgspec.Meta(pattern=_SECRET.pattern)] | None = None
    """`whsec_<base64 of 24 to 64 random bytes>` as the Standard Webhooks spec issues them."""
    secret_file: str | None = None
    """Instead of `secret`: the absolute path of a file holding it (a Kubernetes or compose
    secret, a systemd credential), read when a message is signed, so the recipients file
    carries no key and a rotated one is used without a restart."""

    def signing_secret(self) -> str:
        """The secret, read from `secret_file` if given; ValueError names what is wrong."""
        if self.secret is not None:
            return self.secret
        try:
            value = Path(str(self.secret_file)).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ValueError(f"webhook secret_file {self.secret_file}: {problem}") from None
        if not _SECRET.match(value):
            raise ValueError(f"webhook secret_file {self.secret_file}: not a whsec_<base64> "
                             "secret")
        return value

    allow_http: bool = False
    """An `http://` URL is refused unless this says so: the signed body, alerts included,
    would cross the network readable by anyone on the path (for a receiver on the same host
    or a closed segment only)."""

    @property
    def plain_http(self) -> bool:
        return self.url.lower().startswith("http://")


class Person(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: PersonId
    name: str
    role: str = ""
    """Free text for the reader (e.g. Giám đốc Sở); routing uses the list a person is in."""
    email: Email | None = None
    phone: Phone | None = None
    webhook: WebhookTarget | None = None
    channels: tuple[Channel, ...] = (Channel.EMAIL,)
    language: Annotated[str, msgspec.Meta(pattern="^(vi|en)$")] = "vi"
    hours: Hours = Hours.OFFICE


class UnitContacts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    heads: tuple[Person, ...] = ()
    deputies: tuple[Person, ...] = ()


class KindRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    escalate_to_parent: bool = False
    """Also send to the heads of the parent unit (cấp trên trực tiếp)."""
    deputies: bool = False
    """Also send to the unit's deputies."""


class _BookSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The top level; units and rules are converted entry by entry, because msgspec's
    error paths show a dict key as `[...]` and the key is what the reader needs."""

    units: dict[str, Any] = {}
    province_operations: tuple[Person, ...] = ()
    rules: dict[str, Any] = {}


class _Invalid(Exception):
    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem


def _convert(value: Any, kind: Any, path: str) -> Any:
    """`msgspec.convert`, with errors as (path from the root, problem)."""
    try:
        return msgspec.convert(value, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _AT_PATH.search(message)
        inner = match.group(1) if match else ""
        raise _Invalid(path + inner, message[: match.start()] if match else message) from None


_DEFAULT_RULES: Mapping[AlertKind, KindRule] = MappingProxyType(
    {
        AlertKind.OVERDUE: KindRule(escalate_to_parent=True),
        AlertKind.RESCHEDULED_OVERDUE: KindRule(escalate_to_parent=True),
    }
)


@dataclass(frozen=True)
class RecipientsBook:
    """The validated recipients file."""

    units: Mapping[str, UnitContacts] = field(default_factory=dict)
    province_operations: tuple[Person, ...] = ()
    rules: Mapping[AlertKind, KindRule] = field(default_factory=lambda: _DEFAULT_RULES)
    people: Mapping[str, Person] = field(default_factory=dict)
    """Every person by id."""

    def rule(self, kind: str) -> KindRule:
        try:
            return self.rules.get(AlertKind(kind), KindRule())
        except ValueError:
            return KindRule()


# --- loading --------------------------------------------------------------------------

_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_AT_PATH = re.compile(r" - at `\$([^`]*)`$")


def _line_of(root: yaml.Node | None, path: str) -> int | None:
    """1-based line of the field at a path such as `.units.S-TP.heads[0]` (a mapping key's
    own line), or of the deepest node found on the way."""
    node, line = root, None if root is None else root.start_mark.line
    for key, index in _PATH_STEP.findall(path):
        if isinstance(node, yaml.MappingNode) and key:
            found = [(k, v) for k, v in node.value if getattr(k, "value", None) == key]
            if not found:
                break
            line, node = found[0][0].start_mark.line, found[0][1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line
        else:
            break
    return None if line is None else line + 1


def parse_recipients(
    text: str | bytes, source: str = "recipients", units: Mapping[str, Unit] | None = None
) -> RecipientsBook:
    """Validate a recipients file; `units` (the catalogue's) makes unknown unit codes an
    error instead of a silent dead end."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise RecipientsError(
            source, mark.line + 1 if mark else None, "YAML", str(exc.problem)
        ) from None
    try:
        top = _convert(data or {}, _BookSpec, "")
        contacts = {
            str(code): _convert(value or {}, UnitContacts, f".units.{code}")
            for code, value in top.units.items()
        }
        rules = {}
        for kind, value in top.rules.items():
            if kind not in AlertKind.__members__:
                raise _Invalid(f".rules.{kind}", f"not an alert kind (one of "
                               f"{', '.join(AlertKind.__members__)})")
            rules[AlertKind(kind)] = _convert(value or {}, KindRule, f".rules.{kind}")
        problems = _problems(contacts, top.province_operations, units)
        if problems:
            raise _Invalid(*problems[0])
    except _Invalid as invalid:
        raise RecipientsError(
            source, _line_of(root, invalid.path), invalid.path.lstrip(".") or "$",
            invalid.problem,
        ) from None
    people = {p.id: p for _, p in _all_people(contacts, top.province_operations)}
    return RecipientsBook(
        units=MappingProxyType(contacts),
        province_operations=top.province_operations,
        rules=MappingProxyType({**_DEFAULT_RULES, **rules}),
        people=MappingProxyType(people),
    )


def example_recipients() -> Path:
    """The shipped example recipients file, which documents the format (where it is: in
    the clone or in the installed package)."""
    return Path(str(resources.files("dossierflow").joinpath("data/recipients.example.yaml")))


def load_recipients(path: Path, units: Mapping[str, Unit] | None = None) -> RecipientsBook:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise RecipientsError(
            str(path), None, "file", f"{exc.strerror or exc}; give --recipients FILE or "
            f"DOSSIERFLOW_NOTIFY_RECIPIENTS (format: {example_recipients()})",
        ) from None
    book = parse_recipients(text, str(path), units)
    check_secret_files(book, str(path))
    return book


def _all_people(
    units: Mapping[str, UnitContacts], operations: Sequence[Person]
) -> list[tuple[str, Person]]:
    found = [(f".province_operations[{i}]", p) for i, p in enumerate(operations)]
    for code, contacts in units.items():
        for group in ("heads", "deputies"):
            for i, person in enumerate(getattr(contacts, group)):
                found.append((f".units.{code}.{group}[{i}]", person))
    return found


_CHANNEL_NEEDS = {Channel.EMAIL: "email", Channel.ZALO: "phone", Channel.WEBHOOK: "webhook"}


def _problems(
    contacts: Mapping[str, UnitContacts],
    operations: Sequence[Person],
    units: Mapping[str, Unit] | None,
) -> Sequence[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if units is not None:
        problems += [
            (f".units.{code}", f"unit {code!r} is not in the catalogue")
            for code in contacts
            if code not in units
        ]
    seen: dict[str, tuple[str, Person]] = {}
    for path, person in _all_people(contacts, operations):
        for channel in person.channels:
            needed = _CHANNEL_NEEDS[channel]
            if getattr(person, needed) is None:
                problems.append(
                    (f"{path}.channels", f"channel {channel} needs the field {needed!r}")
                )
        if person.webhook is not None:
            problems += _webhook_secret_problems(f"{path}.webhook", person.webhook)
        if person.webhook is not None and person.webhook.plain_http \
                and not person.webhook.allow_http:
            problems.append((f"{path}.webhook.url", "an http:// webhook sends the signed "
                             "alerts unencrypted: use https://, or add `allow_http: true` "
                             "for a receiver on this host or a closed network"))
        if not person.channels:
            problems.append((f"{path}.channels", "at least one channel is needed"))
        if person.id in seen and seen[person.id][1] != person:
            problems.append(
                (f"{path}.id", f"id {person.id!r} is used for another person at "
                 f"{seen[person.id][0].lstrip('.')}; the same id must describe the same person")
            )
        seen.setdefault(person.id, (path, person))
    return problems


def _webhook_secret_problems(path: str, webhook: WebhookTarget) -> list[tuple[str, str]]:
    if (webhook.secret is None) == (webhook.secret_file is None):
        return [(path, "give the signing key as exactly one of `secret` or `secret_file`")]
    if webhook.secret_file is not None and not Path(webhook.secret_file).is_absolute():
        return [(f"{path}.secret_file", "must be an absolute path")]
    return []


def check_secret_files(book: RecipientsBook, source: str) -> None:
    """Every `secret_file` readable and well-formed now (at start and with `--check`),
    rather than at the first alert."""
    for person in book.people.values():
        if person.webhook is not None and person.webhook.secret_file is not None:
            try:
                person.webhook.signing_secret()
            except ValueError as exc:
                raise RecipientsError(source, None, f"{person.id}.webhook", str(exc)) from None
