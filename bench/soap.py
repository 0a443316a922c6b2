"""Benchmark: what a SOAP delivery costs next to a REST one, both against the bundled simulators.

Delivers the same cases through the SOAP adapter (zeep, WS-Security PasswordDigest, the `cases`
WSDL) and the REST adapter (signed JSON), each against its simulator on a real socket in this
process, from 1 and from 4 threads; prints deliveries per second and the SOAP / REST ratio measured
in the same run, and the adapter's CPU time per SOAP call (envelope built, sent, parsed, classified).

    .venv/bin/python bench/soap.py [--cases 300]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import structlog

from adapters.base import Adapter
from adapters.rest import RestAdapter
from adapters.soap import SoapAdapter
from adapters.testing import SAMPLE_CASE, envelope_for
from adapters.testing.rest_agency import running_simulator as rest_simulator
from adapters.testing.soap_agency import running_simulator as soap_simulator
from schemas import AgencyConfig, CaseIn


def _agency(adapter: dict[str, object]) -> AgencyConfig:
    return AgencyConfig.model_validate(
        {"id": "bench-agency", "name_ar": "جهة", "name_en": "Agency", "status": "onboarded", "adapter": adapter}
    )


def _run(adapter: Adapter, agency: AgencyConfig, cases: list[CaseIn], threads: int) -> tuple[float, float]:
    """Deliveries per second, and CPU seconds per delivery, from `threads` threads."""
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda case: adapter.deliver(envelope_for(agency, case=case)), cases))
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    return len(cases) / wall, used / len(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    os.environ["BENCH_SOAP_PASSWORD"] = "bench-password"
    os.environ["BENCH_REST_SECRET"] = "bench-signing-secret"
    os.environ["HUB_WSDL_CACHE"] = os.path.join(tempfile.mkdtemp(), "wsdl.sqlite")
    fields = {
        "reference": "case.reference",
        "kind": {"path": "case.kind", "codes": "kind"},
        "subject": "case.subject",
        "description": "case.description",
        "submittedAt": "case.submitted_at",
        "citizen.name": "case.citizen.name",
    }
    codes = {"kind": {"complaint": "COMPLAINT", "suggestion": "SUGGESTION", "inquiry": "INQUIRY"}}
    with soap_simulator() as soap, rest_simulator() as (rest_url, _):
        from adapters.testing.soap_agency import Credentials

        soap.controller.credentials["bench-agency"] = Credentials("hub", "bench-password")
        soap_agency = _agency(
            {
                "kind": "soap",
                "wsdl": soap.wsdl("bench-agency"),
                "plain_http": True,
                "soap_version": "1.1",
                "wsse": {"username": "hub", "password_env": "BENCH_SOAP_PASSWORD", "digest": True},
                "submit": {
                    "operation": "SubmitCase",
                    "ticket": "ticketId",
                    "parameters": {"fields": fields, "codes": codes},
                },
            }
        )
        rest_agency = _agency(
            {
                "kind": "rest",
                "base_url": f"{rest_url}/bench-agency",
                "plain_http": True,
                "signing_secret_env": "BENCH_REST_SECRET",
                "ticket": "ticket_id",
            }
        )
        adapters = {
            "soap": (SoapAdapter.from_config(soap_agency), soap_agency),
            "rest": (RestAdapter.from_config(rest_agency), rest_agency),
        }
        results: dict[tuple[str, int], tuple[float, float]] = {}
        for threads in (1, 4):
            for kind, (adapter, agency) in adapters.items():
                cases = [
                    CaseIn.model_validate({**SAMPLE_CASE.model_dump(), "reference": f"TW-B-{kind}{threads}-{i:06d}"})
                    for i in range(args.cases)
                ]
                adapter.deliver(envelope_for(agency, case=cases[0]))  # warm: WSDL loaded, connections open
                results[(kind, threads)] = _run(adapter, agency, cases[1:], threads)
    for threads in (1, 4):
        soap_rate, soap_cpu = results[("soap", threads)]
        rest_rate, rest_cpu = results[("rest", threads)]
        print(
            f"{threads} thread(s): SOAP {soap_rate:7.1f}/s ({soap_cpu * 1000:.2f} ms CPU each), "
            f"REST {rest_rate:7.1f}/s ({rest_cpu * 1000:.2f} ms CPU each); SOAP / REST = {soap_rate / rest_rate:.2f}"
        )
    print("(CPU counts both sides: adapter and simulator run in this process)")


if __name__ == "__main__":
    main()
