"""What integrators test with: a stub adapter that records and can fail, and the contract suite.

Run the contract against your own adapter in one line::

    class TestMyAdapter(AdapterContract):
        adapter_class = MyAdapter
        agency = AgencyConfig(id="my-agency", ..., adapter={"kind": "mine", ...})
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from typing_extensions import override

from adapters.base import Adapter, Capabilities
from adapters.errors import PermanentDeliveryError, RetriableDeliveryError
from schemas import AgencyConfig, CaseIn, Envelope, Receipt


class StubSettings(BaseModel):
    """How the stub behaves; `record_file` lets another process see what was delivered."""

    model_config = ConfigDict(extra="forbid")

    fail: Literal["never", "retriable", "permanent"] = "never"
    fail_times: int = 0
    """With fail='retriable': fail only the first n attempts, then succeed."""
    delay_seconds: float = 0.0
    record_file: str | None = None


class StubAdapter(Adapter):
    """Records every delivery (in memory and optionally as JSON lines) and fails when told to."""

    kind = "stub"
    settings_model = StubSettings
    capabilities = Capabilities(callbacks=True)
    settings: StubSettings

    def __init__(self, agency: AgencyConfig, settings: BaseModel) -> None:
        super().__init__(agency, settings)
        self.deliveries: list[Envelope] = []

    def _record(self, event: str, envelope: Envelope) -> None:
        if self.settings.record_file:
            line = {
                "event": event,
                "handoff": envelope.handoff_id,
                "key": envelope.idempotency_key,
                "attempt": envelope.attempt,
                "subject": envelope.case.subject,
            }
            with Path(self.settings.record_file).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        self._record("start", envelope)
        if self.settings.delay_seconds:
            time.sleep(self.settings.delay_seconds)
        s = self.settings
        if s.fail == "permanent":
            raise PermanentDeliveryError("stub told to refuse", response_excerpt="400 refused")
        if s.fail == "retriable" and (s.fail_times == 0 or envelope.attempt <= s.fail_times):
            raise RetriableDeliveryError("stub told to fail for now", retry_after=None)
        self.deliveries.append(envelope)
        self._record("done", envelope)
        return Receipt(agency_reference=f"STUB-{envelope.handoff_id[-6:]}")


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The JSON lines a stub with `record_file` wrote."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line]


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
