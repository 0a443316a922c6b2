"""A hub whose agencies.yaml a test writes: each agency gets a category of the same id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from broker.hub import Hub, set_hub
from broker.intake import submit_cases
from tests.conftest import make_case


def hub_with_agencies(base: Hub, directory: Path, agencies: dict[str, dict[str, Any]], **settings: Any) -> Hub:
    """A hub on `base`'s database whose agencies are an operator plus `agencies` (id to extra fields).

    Each agency's fields are merged into an onboarded agency (give `adapter` and `max_in_flight`
    there); a case of category `<id>` goes to agency `<id>`.
    """
    rows: list[dict[str, Any]] = [
        {
            "id": "central-office",
            "name_ar": "المكتب المركزي",
            "name_en": "Central office",
            "status": "onboarded",
            "operator": True,
        }
    ]
    rows += [
        {"id": agency_id, "name_ar": f"جهة {agency_id}", "name_en": agency_id, "status": "onboarded", **fields}
        for agency_id, fields in agencies.items()
    ]
    categories = [{"id": a, "name_ar": a, "name_en": a, "agencies": [a]} for a in agencies]
    directory.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"agencies": rows, "categories": categories}, allow_unicode=True, sort_keys=False)
    (directory / "agencies.yaml").write_text(text, encoding="utf-8")
    hub = Hub(base.settings.model_copy(update={"config_dir": directory, **settings}))
    set_hub(hub)
    return hub


def submit(hub: Hub, agency_id: str, count: int) -> None:
    """Submit `count` cases that route to `agency_id`."""
    cases = [make_case(category=agency_id) for _ in range(count)]
    submit_cases(hub.engine, hub.directory, cases, actor="national-system")
