"""What integrators test with: the contract suite, a stub adapter, and simulated agency systems.

Run the contract against your own adapter in one line::

    class TestMyAdapter(AdapterContract):
        adapter_class = MyAdapter
        agency = AgencyConfig(id="my-agency", ..., adapter={"kind": "mine", ...})

Installed with the hub, `adapters.testing.plugin` is a pytest plugin (entry point `pytest11`): its
fixtures give a sample envelope and running REST and SOAP agency simulators.
"""

from adapters.testing.contract import (
    HANDOFF_ID,
    SAMPLE_CASE,
    AdapterContract,
    envelope_for,
    follow_on_for,
    no_network,
    strings_in,
)
from adapters.testing.stub import StubAdapter, StubSettings, read_records

__all__ = [
    "HANDOFF_ID",
    "SAMPLE_CASE",
    "AdapterContract",
    "StubAdapter",
    "StubSettings",
    "envelope_for",
    "follow_on_for",
    "no_network",
    "read_records",
    "strings_in",
]
