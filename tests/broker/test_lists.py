"""Statements over lists of ids (broker.store.lists): the same rows whatever the form, and kept plans."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, select, text

from broker import dispatch
from broker.hub import Hub
from broker.intake import submit_cases
from broker.store.tables import handoffs
from tests.conftest import make_case

CATEGORIES = ("hospital-services", "housing-applications", "street-lighting")


def _handoff_ids(hub: Hub) -> list[str]:
    submit_cases(hub.engine, hub.directory, [make_case(category=c) for c in CATEGORIES], actor="ns")
    with hub.engine.connect() as conn:
        return sorted(conn.execute(select(handoffs.c.id)).scalars())


def test_one_id_and_several_read_the_same_rows(any_hub: Hub) -> None:
    ids = _handoff_ids(any_hub)
    with any_hub.engine.connect() as conn:
        each = [dict(r._mapping) for i in ids for r in dispatch._CLAIMED.execute(conn, [i])]
        together = [dict(r._mapping) for r in dispatch._CLAIMED.execute(conn, ids)]
        assert dispatch._CLAIMED.execute(conn, {"h_missing"}).all() == []
    assert len(ids) == 3
    assert sorted(each, key=lambda r: r["id"]) == sorted(together, key=lambda r: r["id"])


def _plans(hub: Hub, run: Callable[[Connection], int], fragment: str) -> tuple[int, int]:
    """`run` 25 times on one connection; PostgreSQL's (generic, custom) plans of the statement with `fragment`.

    psycopg prepares a statement after its fifth run; PostgreSQL then plans it afresh five times before
    it weighs keeping a plan.
    """
    with hub.engine.connect() as conn:
        for _ in range(25):
            assert run(conn) == 1
        row = conn.execute(
            text("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE :s"),
            {"s": f"%{fragment}%"},
        ).one()
        conn.rollback()
    return row.generic_plans, row.custom_plans


def test_postgresql_keeps_the_plan_of_a_one_id_read(pg_hub: Hub) -> None:
    """A one-id claim is planned a few times per connection, not on every call (its joins cost 0.3 ms to plan)."""
    [first, *_] = _handoff_ids(pg_hub)
    generic, custom = _plans(
        pg_hub, lambda conn: len(dispatch._CLAIMED.execute(conn, [first]).all()), "handoffs.id = $1"
    )
    assert generic >= 10
    assert custom <= 5


def test_postgresql_plans_an_id_array_afresh_each_time(pg_hub: Hub) -> None:
    """Why one id has a form of its own: with an array parameter, even of one id, no plan is kept."""
    [first, *_] = _handoff_ids(pg_hub)
    many = dispatch._CLAIMED.many
    generic, custom = _plans(pg_hub, lambda conn: len(conn.execute(many, {"_ids": [first]}).all()), "= ANY (")
    assert generic == 0
    assert custom >= 15
