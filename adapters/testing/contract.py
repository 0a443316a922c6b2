"""The contract suite every adapter passes, and the sample envelope it delivers.

Run the contract against your own adapter in one line::

    class TestMyAdapter(AdapterContract):
        adapter_class = MyAdapter
        agency = AgencyConfig(id="my-agency", ..., adapter={"kind": "mine", ...})
"""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import BaseModel

from adapters.base import Adapter, Capabilities
from schemas import AgencyConfig, CaseIn, Envelope, Receipt

SAMPLE_CASE = CaseIn.model_validate(
    {
        "reference": "TW-2026-009999",
        "kind": "complaint",
        "category": "road-maintenance",
        "subject": "حفرة كبيرة في شارع 28 — pothole",
        "description": "توجد حفرة عميقة أمام المدرسة منذ أسبوعين. «عاجل» ✓",
        "submitted_at": "2026-11-22T09:14:00+03:00",
        "citizen": {"name": "فاطمة علي", "cpr": "850412345", "mobile": "+97333123456"},
    }
)


def envelope_for(agency: AgencyConfig, *, attempt: int = 1, case: CaseIn = SAMPLE_CASE) -> Envelope:
    """An envelope as the hub would build it, for adapter tests."""
    return Envelope(
        handoff_id="h_01JCONTRACT0000000000000000",
        case_id="c_01JCONTRACT0000000000000000",
        idempotency_key="h_01JCONTRACT0000000000000000",
        attempt=attempt,
        agency=agency,
        case=case,
    )


class AdapterContract:
    """Pytest mixin: what every adapter promises.

    Set `adapter_class` and `agency` (a working config); override `make_adapter` to point the
    adapter at a test server.
    """

    adapter_class: ClassVar[type[Adapter]]
    agency: ClassVar[AgencyConfig]

    def make_adapter(self) -> Adapter:
        """The adapter under test."""
        return self.adapter_class.from_config(self.agency)

    def test_declares_kind_and_settings(self) -> None:
        """An adapter names its kind, settings model and capabilities."""
        cls = self.adapter_class
        assert isinstance(cls.kind, str) and cls.kind
        assert issubclass(cls.settings_model, BaseModel)
        assert isinstance(cls.capabilities, Capabilities)

    def test_rejects_an_unknown_setting(self) -> None:
        """A misspelt setting is an error, never silently ignored."""
        import pytest
        from pydantic import ValidationError

        bad = self.agency.model_copy(deep=True)
        bad.adapter = bad.adapter.model_validate({**bad.adapter.model_dump(), "no_such_setting": 1})
        with pytest.raises(ValidationError):
            self.adapter_class.from_config(bad)

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

    def test_describe_holds_no_secret(self) -> None:
        """`describe` never shows a secret setting."""
        described = json.dumps(self.make_adapter().describe(), default=str)
        for key, value in self.agency.adapter.settings.items():
            if any(word in key for word in ("secret", "password", "token", "key")) and isinstance(value, str):
                assert value not in described
