"""`tawasul-hub deadlines`: show a handoff's clocks, ask for and decide extensions, sweep by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import time_machine
from typer.testing import CliRunner

from broker.cli import app
from broker.hub import Hub
from tests.broker.test_deadlines import CREATED, DUE, submit

runner = CliRunner()


def env(hub: Hub) -> dict[str, str]:
    return {"HUB_DATABASE_URL": hub.settings.database_url, "HUB_LOG_FORMAT": "console", "COLUMNS": "200"}


@pytest.fixture
def handoff(sqlite_hub: Hub) -> Iterator[tuple[Hub, str]]:
    with time_machine.travel(CREATED, tick=False):
        _, h = submit(sqlite_hub)
        yield sqlite_hub, h


def invoke(hub: Hub, *args: str) -> str:
    result = runner.invoke(app, list(args), env=env(hub))
    assert result.exit_code == 0, result.output
    return result.output


def test_show_gives_the_deadlines_in_bahrain_time(handoff: tuple[Hub, str]) -> None:
    hub, h = handoff
    facts = json.loads(invoke(hub, "deadlines", "show", h))
    assert facts["answer_due_at"] == "2026-12-10T14:00:00+03:00"
    assert facts["escalation_level"] == 0 and facts["extension_request"] is None


def test_an_extension_requested_then_granted_moves_the_answer_by_date(handoff: tuple[Hub, str]) -> None:
    hub, h = handoff
    out = invoke(hub, "deadlines", "extension", "request", h, "--days", "2", "--reason", "ننتظر رد جهة أخرى")
    assert "waiting for the central office" in out
    out = invoke(hub, "deadlines", "extension", "grant", h, "--by", "amina")
    assert "answer by 2026-12-14T14:00:00+03:00" in out
    assert json.loads(invoke(hub, "deadlines", "show", h))["answer_due_at"] == "2026-12-14T14:00:00+03:00"


def test_a_refused_extension_changes_nothing(handoff: tuple[Hub, str]) -> None:
    hub, h = handoff
    invoke(hub, "deadlines", "extension", "request", h, "--days", "2", "--reason", "busy")
    assert "refused" in invoke(hub, "deadlines", "extension", "refuse", h, "--note", "لا")
    assert json.loads(invoke(hub, "deadlines", "show", h))["answer_due_at"] == "2026-12-10T14:00:00+03:00"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["deadlines", "extension", "grant", "{h}"], 1, "no extension request waiting"),
        (["deadlines", "extension", "request", "{h}", "--days", "2", "--reason", " "], 2, "--reason: required"),
        (["deadlines", "extension", "request", "{h}", "--days", "0", "--reason", "x"], 2, "--days"),
        (["deadlines", "show", "h_unknown"], 1, "no handoff 'h_unknown'"),
    ],
)
def test_mistakes_are_named(handoff: tuple[Hub, str], args: list[str], code: int, message: str) -> None:
    hub, h = handoff
    result = runner.invoke(app, [a.format(h=h) for a in args], env=env(hub))
    assert result.exit_code == code
    assert message in result.output


def test_sweep_runs_once_and_says_what_it_did(handoff: tuple[Hub, str]) -> None:
    hub, _ = handoff
    with time_machine.travel(DUE, tick=False):
        assert "warned 1, overdue 1, escalated 1" in invoke(hub, "deadlines", "sweep")
        assert "warned 0, overdue 0, escalated 0" in invoke(hub, "deadlines", "sweep")
