"""The contract suite every adapter passes, and the sample envelopes it is given.

Run the contract against your own adapter in one line, pointing it at your test server::

    class TestMyAdapter(AdapterContract):
        adapter_class = MyAdapter
        agency = AgencyConfig(id="my-agency", ..., adapter={"kind": "mine", ...})

        def delivered_texts(self, adapter):      # what your test server received, decoded
            return [r.body.decode() for r in my_server.requests]

        def inbound_sample(self, adapter):       # only if it polls or reads an inbox
            return adapter.poll([PollItem(handoff_id=..., agency_reference=..., state="delivered")])
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel

from adapters.base import Adapter, Capabilities
from adapters.errors import RetriableDeliveryError
from schemas import (
    AgencyConfig,
    CaseIn,
    Envelope,
    FollowOn,
    FollowOnEnvelope,
    FollowOnKind,
    Inbound,
    Receipt,
    SharedCase,
)

SAMPLE_CASE = CaseIn.model_validate(
    {
        "reference": "TW-2026-009999",
        "kind": "complaint",
        "category": "road-maintenance",
        "subject": "حفرة كبيرة في شارع 28 — pothole",
        "description": "توجد حفرة عميقة أمام المدرسة منذ أسبوعين. «عاجل» ✓\nسطر ثانٍ: ١٢٣ / 123",
        "submitted_at": "2026-11-22T09:14:00+03:00",
        "citizen": {"name": "فاطمة علي", "cpr": "850412345", "mobile": "+97333123456"},
        "location": {"governorate": "northern", "block": "525", "road": "2511"},
    }
)

HANDOFF_ID = "h_01JCONTRACT0000000000000000"


def envelope_for(agency: AgencyConfig, *, attempt: int = 1, case: CaseIn = SAMPLE_CASE) -> Envelope:
    """An envelope as the hub would build it, for adapter tests (the citizen cut to the name)."""
    shared = SharedCase.model_validate({**case.model_dump(), "citizen": {"name": case.citizen.name}})
    return Envelope(
        handoff_id=HANDOFF_ID,
        case_id="c_01JCONTRACT0000000000000000",
        idempotency_key=HANDOFF_ID,
        attempt=attempt,
        agency=agency,
        case=shared,
        reply_token="h01jcontract0000000000000000-testtoken",  # noqa: S106 - a sample, not a secret
    )


def follow_on_for(
    agency: AgencyConfig, kind: FollowOnKind, *, agency_reference: str | None = "T-1"
) -> FollowOnEnvelope:
    """A follow-on message about the sample handoff, as the hub would send it."""
    base = envelope_for(agency)
    follow_on = FollowOn(
        id=f"f_01JCONTRACT{list(FollowOnKind).index(kind):017d}",
        kind=kind,
        text_ar="ردّ المواطن: العنوان مجمع ٥٢٥، طريق ٢٥١١.",
        text_en="The citizen replied: block 525, road 2511.",
        text="العنوان مجمع ٥٢٥",
        created_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
    )
    return FollowOnEnvelope(
        **{**base.model_dump(), "idempotency_key": follow_on.id, "agency_reference": agency_reference},
        follow_on=follow_on,
    )


@contextmanager
def no_network() -> Iterator[None]:
    """Any attempt to open a connection or resolve a name inside the block raises."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the adapter's constructor opened a connection (constructors do no I/O)")

    saved = socket.socket.connect, socket.create_connection, socket.getaddrinfo
    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.create_connection, socket.getaddrinfo = saved  # type: ignore[method-assign]


def strings_in(value: Any) -> list[str]:
    """Every string inside a decoded JSON (or similar) value: what `delivered_texts` can return."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings_in(v)]
    return []


def overrides(adapter: Adapter, hook: str) -> bool:
    """Whether the adapter's class implements `hook` itself (not the base's default)."""
    return getattr(type(adapter), hook) is not getattr(Adapter, hook)


class AdapterContract:
    """Pytest mixin: what every adapter promises.

    Set `adapter_class` and `agency` (a working config); override `make_adapter` to point the
    adapter at a test server, `delivered_texts` to say what that server received, and
    `inbound_sample` if the adapter polls or reads an inbox.
    """

    adapter_class: ClassVar[type[Adapter]]
    agency: ClassVar[AgencyConfig]

    def make_adapter(self) -> Adapter:
        """The adapter under test."""
        return self.adapter_class.from_config(self.agency)

    def delivered_texts(self, adapter: Adapter) -> list[str]:
        """What the agency's side received so far, as text decoded from its transport encoding.

        For JSON or XML, the string values (see `strings_in`); for mail, the decoded parts.
        """
        raise NotImplementedError("implement delivered_texts() to show what your test server received")

    def inbound_sample(self, adapter: Adapter) -> list[Inbound]:
        """Messages the adapter read from its test server after a delivery (poll or inbox)."""
        raise NotImplementedError("implement inbound_sample() for an adapter that polls or reads an inbox")

    def test_declares_kind_and_settings(self) -> None:
        """An adapter names its kind, settings model and capabilities."""
        cls = self.adapter_class
        assert isinstance(cls.kind, str) and cls.kind
        assert issubclass(cls.settings_model, BaseModel)
        assert isinstance(self.make_adapter().capabilities, Capabilities)

    def test_rejects_an_unknown_setting(self) -> None:
        """A misspelt setting is an error, never silently ignored."""
        import pytest
        from pydantic import ValidationError

        bad = self.agency.model_copy(deep=True)
        bad.adapter = bad.adapter.model_validate({**bad.adapter.model_dump(), "no_such_setting": 1})
        with pytest.raises(ValidationError):
            self.adapter_class.from_config(bad)

    def test_its_constructor_does_no_io(self) -> None:
        """Building the adapter opens no connection: a bad endpoint shows in `check()`, not at start-up."""
        with no_network():
            adapter = self.adapter_class.from_config(self.agency)
        adapter.close()

    def test_delivers_and_returns_a_receipt(self) -> None:
        """A delivery returns a Receipt (or raises), never a bare bool."""
        receipt = self.make_adapter().deliver(envelope_for(self.agency))
        assert isinstance(receipt, Receipt)

    def test_a_retry_with_the_same_envelope_is_accepted(self) -> None:
        """Delivering the same envelope again is safe."""
        adapter = self.make_adapter()
        first = adapter.deliver(envelope_for(self.agency, attempt=1))
        again = adapter.deliver(envelope_for(self.agency, attempt=2))
        assert isinstance(first, Receipt) and isinstance(again, Receipt)

    def test_arabic_reaches_the_agency_unchanged(self) -> None:
        """The subject and description arrive byte for byte, Arabic, digits and punctuation included."""
        adapter = self.make_adapter()
        adapter.deliver(envelope_for(self.agency))
        received = "\n".join(self.delivered_texts(adapter))
        assert SAMPLE_CASE.subject in received
        assert SAMPLE_CASE.description.replace("\r\n", "\n") in received.replace("\r\n", "\n")

    def test_each_declared_follow_on_kind_is_sent(self) -> None:
        """Every follow-on kind in the capabilities reaches the agency; none declared means no hook needed."""
        adapter = self.make_adapter()
        kinds = adapter.capabilities.follow_ons
        if kinds:
            assert overrides(adapter, "follow_on")
            adapter.deliver(envelope_for(self.agency))
        for kind in sorted(kinds):
            assert isinstance(adapter.follow_on(follow_on_for(self.agency, kind)), Receipt)
        assert kinds <= frozenset(FollowOnKind)

    def test_capabilities_match_the_hooks_it_implements(self) -> None:
        """A capability the hub relies on has its hook behind it."""
        adapter = self.make_adapter()
        caps = adapter.capabilities
        for flag, hook in (("status_poll", "poll"), ("inbox", "receive"), ("lookup", "lookup")):
            if getattr(caps, flag):
                assert overrides(adapter, hook), f"capabilities.{flag} is set but {hook}() is not implemented"
        if caps.manual:
            assert not (caps.status_poll or caps.inbox or caps.follow_ons), "a manual adapter talks to nobody"

    def test_inbound_messages_carry_their_change_key(self) -> None:
        """What an adapter reads names its handoff (or a reply token) and the agency's change."""
        adapter = self.make_adapter()
        if not (adapter.capabilities.status_poll or adapter.capabilities.inbox):
            assert not (overrides(adapter, "poll") and overrides(adapter, "receive"))
            return
        adapter.deliver(envelope_for(self.agency))
        messages = self.inbound_sample(adapter)
        assert messages, "inbound_sample() gave no message to check"
        for message in messages:
            assert message.dedup_key
            assert message.handoff or message.reply_token or message.references

    def test_it_classifies_its_own_errors(self) -> None:
        """Each library exception it calls retriable becomes a RetriableDeliveryError; a bug stays a bug."""
        adapter = self.make_adapter()
        for cls in adapter.retriable_errors:
            assert isinstance(adapter.classify(cls("simulated")), RetriableDeliveryError), cls.__name__
        assert adapter.classify(ValueError("a bug")) is None
        hub_error = RetriableDeliveryError("already classified")
        assert adapter.classify(hub_error) is hub_error

    def test_describe_holds_no_secret(self) -> None:
        """`describe` never shows a secret setting."""
        described = json.dumps(self.make_adapter().describe(), default=str)
        for key, value in self.agency.adapter.settings.items():
            if any(word in key for word in ("secret", "password", "token", "key")) and isinstance(value, str):
                assert value not in described
