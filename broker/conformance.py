"""The conformance kit: the hub's rules, checked against an agency's staging endpoint before it goes live.

Each check sends its own sample case (the contract suite's Arabic SAMPLE_CASE) under a new handoff
id and idempotency key, so a run never meets an earlier one's tickets, and each stands alone: one
that fails or breaks does not stop the others. A check the adapter's kind cannot have (no signature
on mail, no endpoint at all for the manual queue) is `n/a`, never a pass. What the endpoint stored
is only visible where it says so (`received`: the REST simulator lists it at `/_sim/requests`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import requests

from adapters.base import Adapter
from adapters.errors import DeliveryError, PermanentDeliveryError, RetriableDeliveryError
from adapters.testing.contract import SAMPLE_CASE, envelope_for, strings_in
from broker.conformance_listener import CallbackListener
from broker.ids import new_id
from schemas import Envelope, PollItem

Status = Literal["pass", "FAIL", "n/a"]
Received = Callable[[str], list[str]]
"""What the endpoint stored for a handoff id, as text (empty: nothing)."""

WRONG_SECRET_ENV = "TAWASUL_CONFORMANCE_WRONG_SECRET"  # noqa: S105 - a variable's name
"""The variable the `signature` check signs with: set by the check to a value no agency shares."""

TITLES = {
    "ticket": ("a delivery gets a ticket", "يُسلَّم البلاغ برقم تذكرة"),
    "idempotency": ("a repeated delivery gets the same ticket", "التسليم المكرر يعيد التذكرة نفسها"),
    "signature": ("a wrong signature is refused", "رفض التوقيع غير الصحيح"),
    "callbacks": ("acknowledgements reach the hub", "وصول الإفادة بالاستلام إلى المنصة"),
    "arabic": ("Arabic text arrives unchanged", "وصول النص العربي دون تغيير"),
    "errors": ("an invalid request gets a permanent error", "الطلب غير الصالح يُرفض بخطأ دائم"),
}


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome and the reason, worded for the agency's IT team."""

    name: str
    status: Status
    reason: str

    def as_json(self) -> dict[str, Any]:
        """For `--json`: name, status, reason and both titles."""
        en, ar = TITLES[self.name]
        return {**asdict(self), "title_en": en, "title_ar": ar}


def fresh_envelope(adapter: Adapter) -> Envelope:
    """The sample case under a handoff id, idempotency key and reference of its own (reruns never collide).

    A new reference too: an agency that recognises a repeat by the national reference (SOAP's
    DUPLICATE) must not take an earlier run's case for this one.
    """
    handoff = new_id("h")
    envelope = envelope_for(adapter.agency)
    case = envelope.case.model_copy(update={"reference": f"TW-C-{handoff.removeprefix('h_')}"})
    return envelope.model_copy(
        update={
            "handoff_id": handoff,
            "idempotency_key": handoff,
            "case_id": new_id("c"),
            "reply_token": "",
            "case": case,
        }
    )


def _refusal(exc: DeliveryError, limit: int = 100) -> str:
    """The error and the start of the agency's answer, cut to `limit` characters."""
    text = f"{exc}: {exc.response_excerpt}" if exc.response_excerpt else str(exc)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_ticket(adapter: Adapter) -> CheckResult:
    """A delivery is accepted and answered with the agency's ticket id."""
    receipt = adapter.deliver(fresh_envelope(adapter))
    if not receipt.agency_reference:
        return CheckResult("ticket", "FAIL", "accepted the case but answered no ticket id: return one in the answer")
    return CheckResult("ticket", "pass", f"ticket {receipt.agency_reference}")


def check_idempotency(adapter: Adapter) -> CheckResult:
    """The same envelope twice (same Idempotency-Key) is one ticket, not two."""
    envelope = fresh_envelope(adapter)
    first = adapter.deliver(envelope).agency_reference
    again = adapter.deliver(envelope.model_copy(update={"attempt": 2})).agency_reference
    if not first or not again:
        return CheckResult("idempotency", "FAIL", "no ticket id to compare: the `ticket` check must pass first")
    if first != again:
        return CheckResult(
            "idempotency",
            "FAIL",
            f"the same Idempotency-Key made a second ticket ({first}, then {again}): "
            "answer a repeated key with the first ticket",
        )
    return CheckResult("idempotency", "pass", f"the repeated delivery got {first} again")


def check_signature(adapter: Adapter) -> CheckResult:
    """A delivery signed with the wrong secret is refused (only for kinds that sign)."""
    if "signing_secret_env" not in type(adapter.settings).model_fields:
        return CheckResult("signature", "n/a", f"the {adapter.kind} adapter does not sign its requests")
    wrong = type(adapter)(adapter.agency, adapter.settings.model_copy(update={"signing_secret_env": WRONG_SECRET_ENV}))
    saved = os.environ.get(WRONG_SECRET_ENV)
    os.environ[WRONG_SECRET_ENV] = secrets.token_urlsafe(24)
    try:
        receipt = wrong.deliver(fresh_envelope(adapter))
    except PermanentDeliveryError as exc:
        return CheckResult("signature", "pass", f"refused: {_refusal(exc)}")
    except RetriableDeliveryError as exc:
        return CheckResult(
            "signature", "FAIL", f"a wrong signature got a retriable answer ({_refusal(exc)}): answer 401"
        )
    finally:
        wrong.close()
        if saved is None:
            os.environ.pop(WRONG_SECRET_ENV, None)
        else:
            os.environ[WRONG_SECRET_ENV] = saved
    return CheckResult(
        "signature",
        "FAIL",
        f"accepted a delivery with a wrong X-Tawasul-Signature (ticket {receipt.agency_reference}): "
        "verify the v2 HMAC-SHA256 signature and answer 401",
    )


def check_callbacks(adapter: Adapter, wait: float, listener: CallbackListener | None = None) -> CheckResult:
    """After a delivery the agency's acknowledgement reaches the hub: read by its poll, or sent to its agency API.

    An agency that calls the hub is heard on `listener` (the kit's stand-in for the agency API).
    """
    caps = adapter.capabilities
    if not caps.status_poll and not caps.callbacks:
        return CheckResult("callbacks", "n/a", "the agency has no status endpoint and does not call the hub")
    if not caps.status_poll and listener is None:
        return CheckResult(
            "callbacks",
            "n/a",
            "the agency answers by calling the hub's agency API: run with --listen PORT and point the staging "
            "system's hub address at it",
        )
    envelope = fresh_envelope(adapter)
    ticket = adapter.deliver(envelope).agency_reference
    item = PollItem(handoff_id=envelope.handoff_id, agency_reference=ticket, state="delivered")
    deadline = time.monotonic() + wait
    while True:
        if listener is not None and not caps.status_poll:
            heard = listener.heard(envelope.handoff_id)
            wrong = [h.problem for h in heard if h.problem]
            if wrong:
                return CheckResult("callbacks", "FAIL", f"the hub's agency API would refuse the call: {wrong[0]}")
            kinds = ", ".join(dict.fromkeys(h.kind for h in heard if h.kind))
            if kinds:
                return CheckResult("callbacks", "pass", f"ticket {ticket}: the agency API heard {kinds}")
        else:
            messages = adapter.poll([item])
            if messages:
                kinds = ", ".join(sorted({m.kind.value for m in messages}))
                return CheckResult("callbacks", "pass", f"ticket {ticket}: the hub read {kinds}")
        if time.monotonic() >= deadline:
            how = (
                f"POST it to {listener.url}/agency/v1/handoffs/{envelope.handoff_id}/messages"
                if listener is not None and not caps.status_poll
                else "acknowledge it (status in `poll.codes`) or check the status endpoint"
            )
            return CheckResult("callbacks", "FAIL", f"no acknowledgement of ticket {ticket} within {wait:g} s: {how}")
        time.sleep(min(0.5, max(wait / 10, 0.05)))


def check_arabic(adapter: Adapter, received: Received | None) -> CheckResult:
    """The Arabic subject and description are stored exactly as sent."""
    if adapter.capabilities.manual:
        return CheckResult("arabic", "n/a", "the manual queue has no endpoint")
    if received is None:
        return CheckResult(
            "arabic",
            "n/a",
            f"the endpoint shows nothing of what it stored: check that the subject reads «{SAMPLE_CASE.subject}»",
        )
    envelope = fresh_envelope(adapter)
    adapter.deliver(envelope)
    stored = "\n".join(received(envelope.handoff_id)).replace("\r\n", "\n")
    missing = [
        name
        for name, text in (("subject", SAMPLE_CASE.subject), ("description", SAMPLE_CASE.description))
        if text.replace("\r\n", "\n") not in stored
    ]
    if not stored:
        return CheckResult("arabic", "FAIL", "the endpoint shows nothing stored for the delivery")
    if missing:
        return CheckResult(
            "arabic", "FAIL", f"the {' and '.join(missing)} did not arrive unchanged: store and read UTF-8 throughout"
        )
    return CheckResult("arabic", "pass", "subject and description stored byte for byte")


def check_errors(adapter: Adapter) -> CheckResult:
    """A case with no national reference is refused with a permanent (4xx) error, not a retriable one."""
    for cls in adapter.retriable_errors:
        if not isinstance(adapter.classify(cls("simulated")), RetriableDeliveryError):
            return CheckResult("errors", "FAIL", f"the adapter does not take {cls.__name__} as retriable")
    envelope = fresh_envelope(adapter)
    invalid = envelope.model_copy(update={"case": envelope.case.model_copy(update={"reference": ""})})
    try:
        receipt = adapter.deliver(invalid)
    except PermanentDeliveryError as exc:
        return CheckResult("errors", "pass", f"refused for good: {_refusal(exc)}")
    except RetriableDeliveryError as exc:
        return CheckResult(
            "errors",
            "FAIL",
            f"an invalid request got a retriable answer ({_refusal(exc)}); the hub would retry it for ever: "
            "answer 400 or 422",
        )
    return CheckResult(
        "errors",
        "FAIL",
        f"accepted a case with no reference (ticket {receipt.agency_reference}): validate and answer 400",
    )


def _guarded(name: str, adapter: Adapter, run: Callable[[], CheckResult]) -> CheckResult:
    """The check's result; an error it did not expect is that check's failure, never the run's end."""
    try:
        return run()
    except DeliveryError as exc:
        return CheckResult(name, "FAIL", f"delivery failed: {_refusal(exc, 240)}")
    except Exception as exc:  # an adapter's bug is reported on its check; the others still run
        known = adapter.classify(exc)
        return CheckResult(name, "FAIL", f"{type(exc).__name__}: {known or exc}"[:160])


def run_checks(
    adapter: Adapter,
    *,
    received: Received | None = None,
    wait: float = 10.0,
    listener: CallbackListener | None = None,
) -> list[CheckResult]:
    """Every check, in order.

    `received` tells what the endpoint stored, `wait` bounds the acknowledgement, `listener` hears an
    agency that calls the hub.
    """
    if adapter.capabilities.manual:
        return [CheckResult(name, "n/a", "a manual agency has no endpoint to test") for name in TITLES]
    checks: dict[str, Callable[[], CheckResult]] = {
        "ticket": lambda: check_ticket(adapter),
        "idempotency": lambda: check_idempotency(adapter),
        "signature": lambda: check_signature(adapter),
        "callbacks": lambda: check_callbacks(adapter, wait, listener),
        "arabic": lambda: check_arabic(adapter, received),
        "errors": lambda: check_errors(adapter),
    }
    return [_guarded(name, adapter, run) for name, run in checks.items()]


def _decoded(value: Any) -> list[str]:
    """The strings in `value`, and those inside any string that is itself a JSON document."""
    found = []
    for s in strings_in(value):
        found.append(s)
        if s.lstrip().startswith(("{", "[")):
            with contextlib.suppress(ValueError):
                found += strings_in(json.loads(s))
    return found


def received_from(url: str) -> Received:
    r"""What an endpoint that lists its requests as JSON (the REST simulator's `/_sim/requests`) stored for a handoff.

    The strings of each listed request that mentions the handoff id (its header or body); a body
    that is JSON text is read as JSON, so escapes (`\n`, `\u0628`) are compared as what they mean.
    """

    def stored(handoff: str) -> list[str]:
        answer = requests.get(url, timeout=10)
        answer.raise_for_status()
        listed = answer.json()
        items = listed if isinstance(listed, list) else [listed]
        return [s for item in items if any(handoff in s for s in strings_in(item)) for s in _decoded(item)]

    return stored


def passed(results: list[CheckResult]) -> bool:
    """Whether no check failed (`n/a` is not a failure)."""
    return all(r.status != "FAIL" for r in results)
