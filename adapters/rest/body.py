"""The request body, built from the envelope by each agency's declarative mapping (no code per agency)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import jmespath
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from adapters.errors import PermanentDeliveryError
from adapters.rest.settings import BodyMapping, FieldRule
from schemas import Envelope


def context(envelope: Envelope, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """What templates and field maps can read: the case as JSON plus the handoff's ids."""
    return {
        "handoff_id": envelope.handoff_id,
        "case_id": envelope.case_id,
        "idempotency_key": envelope.idempotency_key,
        "attempt": envelope.attempt,
        "agency": {"id": envelope.agency.id, "name_ar": envelope.agency.name_ar, "name_en": envelope.agency.name_en},
        "case": envelope.case.model_dump(mode="json"),
        "attachments": attachments,
    }


class BodyBuilder:
    """Renders one agency's body mapping; built once per adapter, safe to share between threads."""

    def __init__(self, mapping: BodyMapping) -> None:
        self.mapping = mapping
        env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        env.filters["code"] = self._code
        env.filters["date"] = self._date
        self._template = env.from_string(mapping.template) if mapping.template is not None else None
        self._fields = {
            target: FieldRule(path=rule) if isinstance(rule, str) else rule
            for target, rule in (mapping.fields or {}).items()
        }

    def build(self, ctx: dict[str, Any]) -> Any:
        """The JSON value to send; a mapping that cannot render is permanent (it needs a config fix)."""
        try:
            if self._template is not None:
                return json.loads(self._template.render(ctx))
            if self._fields:
                return self._from_fields(ctx)
        except (TemplateError, LookupError, ValueError, jmespath.exceptions.JMESPathError) as exc:
            raise PermanentDeliveryError(f"the agency's body mapping failed: {type(exc).__name__}: {exc}") from None
        return {"handoff": ctx["handoff_id"], "case": ctx["case"], "attachments": ctx["attachments"]}

    def _from_fields(self, ctx: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for target, rule in self._fields.items():
            value = rule.value if rule.path is None else jmespath.search(rule.path, ctx)
            if rule.codes is not None:
                value = self._code(value, rule.codes)
            if rule.date:
                value = self._date(value)
            *parents, leaf = target.split(".")
            node = body
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return body

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
