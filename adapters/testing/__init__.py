"""What integrators test with: the contract suite, a stub adapter, and simulated agency systems.

Run the contract against your own adapter in one line::

    class TestMyAdapter(AdapterContract):
        adapter_class = MyAdapter
        agency = AgencyConfig(id="my-agency", ..., adapter={"kind": "mine", ...})
"""

from adapters.testing.contract import SAMPLE_CASE, AdapterContract, envelope_for
from adapters.testing.stub import StubAdapter, StubSettings, read_records

__all__ = ["SAMPLE_CASE", "AdapterContract", "StubAdapter", "StubSettings", "envelope_for", "read_records"]
