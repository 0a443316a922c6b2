"""Declarative mappings from what the hub sends to what an agency expects: no code per agency.

One mapping turns an envelope into a value: a REST request body, a SOAP operation's parameters,
the fields of a mail. It is either a field map (dotted target path → JMESPath over the envelope,
optionally through a code list or a date format) or a sandboxed Jinja2 template rendering JSON.
"""

from __future__ import annotations

import json
import string
from datetime import datetime
from typing import Annotated, Any

import jmespath
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from adapters.errors import PermanentDeliveryError
from schemas import Envelope, FollowOnEnvelope, Inbound, MessageKind, PollItem

JmesPath = Annotated[str, StringConstraints(min_length=1)]


def compiles(expr: str) -> str:
    """Check a JMESPath expression (raises a ParseError that pydantic reports with the field's path)."""
    jmespath.compile(expr)
    return expr


def placeholders(template: str, allowed: set[str]) -> str:
    """Check that a `{name}` template only names `allowed` placeholders."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if not names <= allowed:
        raise ValueError(
            f"only {', '.join('{' + n + '}' for n in sorted(allowed))} may be filled in; found {sorted(names)}"
        )
    return template


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldRule(_Strict):
    """One target field: a JMESPath over the envelope, optionally through a code list or as a date."""

    path: JmesPath | None = None
    value: Any = None
    """A constant, when `path` is not given."""
    codes: str | None = None
    """The name of a code list under `codes` that translates the value."""
    date: bool = False
    """Format the value (an ISO date-time) with `date_format`."""

    @field_validator("path")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        return v if v is None else compiles(v)


class Mapping(_Strict):
    """How a value is built: a sandboxed Jinja2 template rendering JSON, or a field map.

    With neither, the adapter's own default shape is used.
    """

    template: str | None = None
    fields: dict[str, JmesPath | FieldRule] | None = None
    """Dotted target path (`ticket.details.text`) to a JMESPath or a FieldRule."""
    codes: dict[str, dict[str, str]] = {}
    """Code lists, e.g. `kind: {complaint: C, suggestion: S, inquiry: Q}`."""
    date_format: str = "%Y-%m-%dT%H:%M:%S%z"

    @field_validator("template")
    @classmethod
    def _parses(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ImmutableSandboxedEnvironment().parse(v)
            except TemplateSyntaxError as exc:
                raise ValueError(f"template line {exc.lineno}: {exc.message}") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Mapping:
        if self.template is not None and self.fields is not None:
            raise ValueError("give `template` or `fields`, not both")
        for target, rule in (self.fields or {}).items():
            if isinstance(rule, str):
                compiles(rule)
            elif rule.codes is not None and rule.codes not in self.codes:
                raise ValueError(f"fields.{target}: no code list '{rule.codes}' under `codes`")
            elif rule.path is None and rule.value is None:
                raise ValueError(f"fields.{target}: give `path` or `value`")
        return self

    @property
    def given(self) -> bool:
        """Whether the mapping says anything (else the adapter's default shape applies)."""
        return self.template is not None or bool(self.fields)


def context(envelope: Envelope, attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What templates and field maps can read.

    The case as the agency may see it, the handoff's ids and round, its clocks in UTC and local
    time, the conversation so far, and for a follow-on message the message itself.
    """
    ctx: dict[str, Any] = {
        "handoff_id": envelope.handoff_id,
        "case_id": envelope.case_id,
        "idempotency_key": envelope.idempotency_key,
        "attempt": envelope.attempt,
        "round": envelope.round,
        "reply_token": envelope.reply_token,
        "agency_reference": envelope.agency_reference,
        "agency": {"id": envelope.agency.id, "name_ar": envelope.agency.name_ar, "name_en": envelope.agency.name_en},
        "case": envelope.case.model_dump(mode="json"),
        "clocks": envelope.clocks.model_dump(mode="json"),
        "history": [item.model_dump(mode="json") for item in envelope.history],
        "attachments": attachments if attachments is not None else [],
    }
    if isinstance(envelope, FollowOnEnvelope):
        ctx["follow_on"] = envelope.follow_on.model_dump(mode="json")
    return ctx


class MappingBuilder:
    """Renders one mapping; built once per adapter, safe to share between threads."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        env.filters["code"] = self._code
        env.filters["date"] = self._date
        self._template = env.from_string(mapping.template) if mapping.template is not None else None
        self._fields = {
            target: FieldRule(path=rule) if isinstance(rule, str) else rule
            for target, rule in (mapping.fields or {}).items()
        }

    def build(self, ctx: dict[str, Any], default: Any = None) -> Any:
        """The value for `ctx` (or `default` when the mapping is empty).

        A mapping that cannot render is permanent: it needs a configuration fix, not a retry.
        """
        try:
            if self._template is not None:
                return json.loads(self._template.render(ctx))
            if self._fields:
                return self._from_fields(ctx)
        except (TemplateError, LookupError, ValueError, jmespath.exceptions.JMESPathError) as exc:
            raise PermanentDeliveryError(f"the agency's mapping failed: {type(exc).__name__}: {exc}") from None
        return default

    def _from_fields(self, ctx: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for target, rule in self._fields.items():
            value = rule.value if rule.path is None else jmespath.search(rule.path, ctx)
            if rule.codes is not None:
                value = self._code(value, rule.codes)
            if rule.date:
                value = self._date(value)
            *parents, leaf = target.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return out

    def _code(self, value: Any, code_list: str) -> str:
        """The agency's code for `value` in the named code list; an unmapped value is an error."""
        codes = self.mapping.codes[code_list]
        if str(value) not in codes:
            raise LookupError(f"no code for '{value}' in code list '{code_list}'")
        return codes[str(value)]

    def _date(self, value: Any, fmt: str | None = None) -> str | None:
        """An ISO date-time in the agency's date format."""
        if value is None:
            return None
        return datetime.fromisoformat(str(value)).strftime(fmt or self.mapping.date_format)


class StatusReading(_Strict):
    """How an agency's status answer becomes a message to the hub: the part every polling adapter shares."""

    status: JmesPath
    """Where the answer holds the agency's status code."""
    text: JmesPath | None = None
    reference: JmesPath | None = None
    """Where the answer holds the agency's ticket id, when the poll is by handoff id."""
    change_key: JmesPath | None = None
    """Where the answer holds what names the agency's latest change (an update time, a journal entry
    id). With it, each change is taken once, even the same status twice; without it, a status is
    taken once per round of the handoff."""
    codes: dict[str, MessageKind]
    """The agency's status codes that mean something to the hub (as text: quote codes that look like
    numbers in YAML); others are ignored."""
    every_seconds: float = Field(default=60.0, gt=0)

    @field_validator("status", "text", "reference", "change_key")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        return v if v is None else compiles(v)

    def message(self, item: PollItem, data: Any) -> Inbound | None:
        """The message one status answer means, keyed by the agency's change (or its status in this round)."""
        code = jmespath.search(self.status, data)
        kind = self.codes.get(str(code)) if code is not None else None
        if kind is None:
            return None
        text = jmespath.search(self.text, data) if self.text else None
        reference = jmespath.search(self.reference, data) if self.reference else None
        change = jmespath.search(self.change_key, data) if self.change_key else None
        key = f"status:{code}:change:{change}" if change not in (None, "") else f"status:{code}:round:{item.round}"
        return Inbound(
            handoff=item.handoff_id,
            kind=kind,
            text=str(text or ""),
            agency_reference=str(reference or item.agency_reference or "") or None,
            dedup_key=key[:200],
        )
