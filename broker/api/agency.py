"""The agency API: an agency's own system reads its handoffs and sends its messages back.

Every route admits one agency by its own key and shows only that agency's handoffs: another
agency's handoff answers 404, exactly as one that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.security import APIKeyHeader

from adapters.signing import HANDOFF_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from broker import shadow
from broker.agency_handoffs import MESSAGES_PAGE, VISIBLE_STATES, agency_handoff, open_handoffs
from broker.agency_keys import KeyRefused, authenticate
from broker.api.deps import get_hub_dep
from broker.api.replies import model_reply
from broker.errors import Unprocessable
from broker.hub import Hub
from broker.ids import new_id
from broker.messages import Limits, Sender, record_message
from broker.store.handoffs import load
from schemas import AgencyMessage, HandoffState, MessageKind
from schemas.agency_api import AgencyDelivery, AgencyHandoff, AgencyHandoffPage, MessageReceipt

router = APIRouter(prefix="/agency/v1", tags=["agencies"])

agency_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="AgencyKey",
    auto_error=False,
    description="The agency's own key (`tw_…`), issued by `tawasul-hub agencies keys create AGENCY`.",
)

HANDOFF_ID = r"^h_[0-9A-Z]{26}$"
TEXT_REQUIRED = frozenset({MessageKind.answered, MessageKind.needs_info})
"""Kinds that mean nothing without words: the answer itself, or the question for the citizen."""

_UNAUTHORIZED = {"description": "Missing, wrong or revoked API key; `detail` says which."}
_THROTTLED = {"description": "Too many wrong API keys from this address or for this key; wait `Retry-After` s."}
_NOT_FOUND = {"description": "No such handoff for this agency (another agency's handoff is not shown either)."}


@dataclass(frozen=True)
class AgencyCall:
    """An agency's call as it came: its key, checked by `admit` on the endpoint's own thread.

    A key check in a dependency of its own would run on a thread of its own too (the store is
    read with a blocking driver), one more thread-pool hop a call: it cost more CPU than the check.
    An endpoint learns the agency only from `admit`, so no route can skip the check.
    """

    hub: Hub
    request: Request
    key: str
    body: bytes | None = None
    """The body, on the routes that take signed calls (it is awaited before the endpoint's thread)."""

    def admit(self) -> str:
        """The calling agency; 401 for a missing, wrong or revoked key, 429 when throttled (H4).

        On a route that takes signed calls, an agency whose configuration requires them is
        admitted only with a valid v2 signature (L2).
        """
        request, hub = self.request, self.hub
        address = request.client.host if request.client is not None else None
        guard = request.app.state.key_guard
        try:
            agency = authenticate(hub.engine, hub.directory, self.key, guard=guard, address=address)
        except KeyRefused as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), {"WWW-Authenticate": "ApiKey"}) from None
        name = hub.directory.agency(agency).sign_env
        if self.body is None or name is None:
            return agency
        secret = os.environ.get(name)
        headers = request.headers
        if not secret or not verify(
            secret,
            method=request.method,
            path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            timestamp=headers.get(TIMESTAMP_HEADER, ""),
            signature=headers.get(SIGNATURE_HEADER, ""),
            body=self.body,
            idempotency_key=headers.get(IDEMPOTENCY_HEADER, ""),
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, f"missing or wrong {SIGNATURE_HEADER}: calls must be signed"
            )
        return agency


async def agency_caller(
    request: Request, key: str | None = Depends(agency_key_header), hub: Hub = Depends(get_hub_dep)
) -> AgencyCall:
    """An agency's call, its key still to be checked (`AgencyCall.admit`); a missing key is a 401 here."""
    if key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing X-API-Key header", {"WWW-Authenticate": "ApiKey"})
    return AgencyCall(hub, request, key)


async def signed_by_agency(request: Request, call: AgencyCall = Depends(agency_caller)) -> AgencyCall:
    """An agency's call with its body, for the routes that take signed calls (L2)."""
    return replace(call, body=await request.body())


Agency = Annotated[AgencyCall, Depends(agency_caller)]
SignedAgency = Annotated[AgencyCall, Depends(signed_by_agency)]
HubDep = Annotated[Hub, Depends(get_hub_dep)]
HandoffId = Annotated[str, Path(pattern=HANDOFF_ID, description="The handoff's id (`h_…`).")]

_EXAMPLES: dict[str, Any] = {
    "acknowledged": {
        "summary": "Received, with the agency's own ticket id",
        "value": {
            "kind": "acknowledged",
            "text": "تم استلام البلاغ وإحالته إلى القسم المختص.",
            "agency_reference": "MOW-2026-88812",
        },
    },
    "answered": {
        "summary": "The answer for the citizen",
        "value": {
            "kind": "answered",
            "text": "تم إصلاح الخط وإعادة ضخ المياه.",
            "agency_reference": "MOW-2026-88812",
            "sent_at": "2026-11-24T12:40:00+03:00",
            "attachments": [],
        },
    },
    "needs_info": {
        "summary": "A question for the citizen",
        "value": {"kind": "needs_info", "text": "يرجى تزويدنا برقم حساب الكهرباء والماء."},
    },
    "transfer_requested": {
        "summary": "Not ours: send it to another agency",
        "value": {
            "kind": "transfer_requested",
            "text": "الموضوع من اختصاص بلدية المنطقة الشمالية.",
            "transfer_to": "northern-municipality",
        },
    },
}


@router.get("/handoffs", response_model=AgencyHandoffPage, responses={401: _UNAUTHORIZED, 429: _THROTTLED})
def list_handoffs(
    hub: HubDep,
    call: Agency,
    after: Annotated[
        str | None, Query(pattern=HANDOFF_ID, description="The `next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    state: Annotated[
        HandoffState | None, Query(description=f"Only this state (one of {', '.join(VISIBLE_STATES)}).")
    ] = None,
) -> AgencyHandoffPage:
    """This agency's open handoffs (delivered, acknowledged, answered but not yet accepted), oldest first.

    Paged by cursor: oldest first means a backlog is worked in order and a cursor stays valid while
    new handoffs arrive. The list holds no personal data; read one handoff for the citizen's contact.
    """
    agency = call.admit()
    if state is not None and state not in VISIBLE_STATES:
        raise Unprocessable(f"must be one of {', '.join(VISIBLE_STATES)}", field="state")
    with hub.engine.connect() as conn:
        return open_handoffs(conn, agency, after=after, limit=limit, state=state)


@router.get(
    "/handoffs/{handoff_id}",
    response_model=AgencyHandoff,
    responses={401: _UNAUTHORIZED, 404: _NOT_FOUND, 429: _THROTTLED},
)
def read_handoff(
    handoff_id: HandoffId,
    response: Response,
    hub: HubDep,
    call: Agency,
    messages_after: Annotated[
        str | None, Query(max_length=40, description="Messages after this message id (the last one you have).")
    ] = None,
    messages_limit: Annotated[
        int, Query(ge=1, le=MESSAGES_PAGE, description="Most messages returned.")
    ] = MESSAGES_PAGE,
) -> AgencyHandoff:
    """One of this agency's handoffs: the case, its location and attachments, and the citizen's contact.

    The contact is personal data, given because this agency handles the case; the answer is not
    to be cached (`Cache-Control: no-store`). Its messages come oldest first, a page at a time (L9).
    """
    agency = call.admit()
    response.headers["Cache-Control"] = "no-store"
    with hub.engine.connect() as conn:
        return agency_handoff(conn, hub.directory, agency, handoff_id, messages_after, messages_limit)


@router.post(
    "/handoffs/{handoff_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageReceipt,
    responses={
        200: {"description": "Recorded before (same Idempotency-Key, or same kind, reference and text): no effect."},
        401: _UNAUTHORIZED,
        404: _NOT_FOUND,
        409: {"description": "The handoff's state does not admit this kind (for this agency); `state` names it."},
        429: {"description": "Too many messages (per agency or handoff) or wrong keys; wait `Retry-After` seconds."},
        413: {"description": "Body larger than the limit."},
        422: {"description": "A field is missing or wrong; `errors` names it."},
    },
)
def post_message(
    handoff_id: HandoffId,
    message: Annotated[AgencyMessage, Body(openapi_examples=_EXAMPLES)],
    request: Request,
    hub: HubDep,
    call: SignedAgency,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=r"^[\x21-\x7e]{1,150}$",
            description="Any unique string per message; a retry with the same key has no second effect.",
        ),
    ] = None,
) -> Response:
    """Tell the hub what happened: acknowledged, progress, answered, needs_info, transfer_requested, rejected.

    Checked against the handoff's state (an answer to a handoff not yet delivered, or after the
    central office accepted one, is a 409 naming the state). Nothing is written on any refusal.
    """
    agency = call.admit()
    if message.handoff is not None and message.handoff != handoff_id:
        raise Unprocessable(f"names '{message.handoff}' but the URL names '{handoff_id}'", field="handoff")
    if message.kind in TEXT_REQUIRED and not message.text.strip():
        raise Unprocessable(f"required when kind is {message.kind.value}", field="text")
    if shadow.in_shadow(hub, agency, sure=True):
        return _shadow_receipt(hub, agency, handoff_id, message, idempotency_key)
    recorded = record_message(
        hub.engine,
        hub.directory,
        handoff_id,
        message,
        Sender(actor=f"agency:{agency}", source="agency-api", agency_id=agency),
        idempotency_key=idempotency_key,
        limits=_limits(request, hub),
    )
    receipt = MessageReceipt(
        message=recorded.message_id,
        handoff=handoff_id,
        handoff_state=HandoffState(recorded.handoff_state),
        duplicate=recorded.duplicate,
    )
    return model_reply(receipt, status.HTTP_200_OK if recorded.duplicate else status.HTTP_201_CREATED)


def _shadow_receipt(hub: Hub, agency: str, handoff_id: str, message: AgencyMessage, key: str | None) -> Response:
    """An agency in shadow mode speaks on the side (broker.shadow): kept for the report, the handoff unchanged."""
    with hub.engine.connect() as conn:
        h = load(conn, handoff_id, agency_id=agency)
    new = shadow.record(hub, agency, handoff_id, message, source="agency-api", dedup_key=key or new_id("k"))
    state = HandoffState(h.state)
    receipt = MessageReceipt(message="shadow", handoff=handoff_id, handoff_state=state, duplicate=not new)
    return model_reply(receipt, status.HTTP_201_CREATED if new else status.HTTP_200_OK)


def _limits(request: Request, hub: Hub) -> Limits:
    """This app's message limits (one set per API process)."""
    limits: Limits | None = getattr(request.app.state, "message_limits", None)
    if limits is None:
        limits = request.app.state.message_limits = Limits(hub.settings)
    return limits


webhooks = APIRouter()
"""What the hub sends to agencies, for the OpenAPI document's *Webhooks* section."""


@webhooks.post("agency-delivery", tags=["agencies"])
def agency_delivery_webhook(
    body: AgencyDelivery,
    idempotency_key: Annotated[
        str, Header(alias=IDEMPOTENCY_HEADER, description="The same on every retry of one handoff: de-duplicate on it.")
    ],
    handoff: Annotated[str, Header(alias=HANDOFF_HEADER, description="The handoff's id.")],
    timestamp: Annotated[str, Header(alias=TIMESTAMP_HEADER, description="Unix seconds when the hub signed.")],
    signature: Annotated[
        str,
        Header(
            alias=SIGNATURE_HEADER,
            description="`v2=` + hex HMAC-SHA256 of the canonical request (method, path and query, timestamp, "
            "Idempotency-Key, SHA-256 of the body; one per line, after the line `v2`) with the shared secret.",
        ),
    ],
) -> None:
    """What the hub POSTs to a connected agency (`rest` adapter) for each handoff: by default this body.

    An agency's configuration may reshape the body (field names, nesting, code lists, dates) and
    add headers and credentials; the headers below are always sent. Verify the signature and refuse
    a timestamp more than five minutes off. Answer with a success status (2xx unless configured)
    and your ticket id to take the case; 429 or 5xx are retried with backoff (Retry-After honoured);
    any other status puts the handoff on the central office's follow-up queue. Then send
    acknowledgements and answers to `POST /agency/v1/handoffs/{handoff_id}/messages`.
    """
