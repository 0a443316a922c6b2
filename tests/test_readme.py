"""The README's code and configuration work as written: the worked REST example and the signature check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from adapters.rest import RestAdapter
from adapters.testing import envelope_for
from adapters.testing.rest_agency import NESTED, Controller, running_simulator
from broker.settings import PROJECT_ROOT
from schemas import AgencyConfig, PollItem

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def block(name: str) -> str:
    """The fenced code block between `<!-- name:begin -->` and `<!-- name:end -->`."""
    found = re.search(rf"<!-- {name}:begin -->\s*```\w*\n(.*?)```\s*<!-- {name}:end -->", README, re.S)
    assert found is not None, f"the README has no {name} block"
    return found.group(1)


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Controller]]:
    monkeypatch.setenv("NM_SIGNING_SECRET", "nm-secret-for-the-readme-test")
    monkeypatch.setenv("NM_API_TOKEN", "nm-token")
    with running_simulator() as (url, controller):
        controller.secrets["northern-municipality"] = "nm-secret-for-the-readme-test"
        controller.profiles["northern-municipality"] = NESTED
        yield url, controller


def worked_example(base_url: str) -> AgencyConfig:
    """The README's worked example, pointed at the simulator instead of the agency's server."""
    [raw] = yaml.safe_load(block("worked-example"))
    adapter: dict[str, Any] = raw["adapter"]
    adapter["base_url"] = f"{base_url}/northern-municipality"
    adapter["plain_http"] = True
    return AgencyConfig.model_validate(raw)


def test_the_worked_ticketing_example_delivers_polls_and_takes_each_change_once(sim: tuple[str, Controller]) -> None:
    url, controller = sim
    agency = worked_example(url)
    adapter = RestAdapter.from_config(agency)
    envelope = envelope_for(agency)
    receipt = adapter.deliver(envelope)
    [delivered] = controller.requests("northern-municipality")
    header = delivered.json()["request"]["header"]
    assert (header["externalRef"], header["requestType"]) == (envelope.case.reference, "1")
    assert delivered.json()["request"]["content"]["subject"] == envelope.case.subject

    item = PollItem(handoff_id=envelope.handoff_id, agency_reference=None, state="delivered")
    controller.set_status("northern-municipality", envelope.handoff_id, "90", "تم الإصلاح")
    [answer] = adapter.poll([item])
    assert (answer.kind, answer.text, answer.agency_reference) == ("answered", "تم الإصلاح", receipt.agency_reference)
    [again] = adapter.poll([item])
    assert again.dedup_key == answer.dedup_key  # the same change read twice: one key
    controller.set_status("northern-municipality", envelope.handoff_id, "90", "تم الإصلاح")
    [later] = adapter.poll([item])
    assert later.dedup_key != answer.dedup_key  # the same status, a new revision: news


def test_the_readme_signature_check_verifies_what_the_hub_signs(sim: tuple[str, Controller]) -> None:
    url, controller = sim
    namespace: dict[str, Any] = {}
    exec(block("verify-snippet"), namespace)
    adapter = RestAdapter.from_config(worked_example(url))
    adapter.deliver(envelope_for(adapter.agency))
    [r] = controller.requests("northern-municipality")
    verify = namespace["verify"]
    assert verify("nm-secret-for-the-readme-test", "POST", r.path, r.headers, r.body)
    assert not verify("nm-secret-for-the-readme-test", "POST", r.path, r.headers, r.body + b" ")


def test_the_email_agency_example_validates_and_sends_through_a_real_smtp_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adapters.email import EmailAdapter
    from adapters.testing.email_agency import running_mail_server
    from tests.adapters.email.test_reply_table import TABLE

    [raw] = yaml.safe_load(block("email-agency"))
    agency = AgencyConfig.model_validate(raw)
    assert isinstance(EmailAdapter.from_config(agency), EmailAdapter)  # the example as written is valid
    assert f"The table of {len(TABLE)} replies" in README
    with running_mail_server() as server:
        raw["adapter"]["smtp"] = {"host": server.host, "port": server.port, "security": "plain"}
        raw["adapter"]["attachments"] = {"mode": "links"}
        local = AgencyConfig.model_validate(raw)
        receipt = EmailAdapter.from_config(local).deliver(envelope_for(local))
        [mail] = server.wait_for(1)
    assert mail.recipients == ["complaints@works.gov.bh"] and receipt.message_id == str(mail.message["Message-ID"])
