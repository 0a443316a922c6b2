"""Which agencies a case goes to: the one the case names, or the category's rule in config."""

from __future__ import annotations

from broker.config import Directory
from broker.errors import Unprocessable
from schemas import CaseIn


def route(case: CaseIn, directory: Directory) -> list[str]:
    """The agency ids for a case; an unknown agency or category is Unprocessable naming it."""
    if case.category not in directory.categories:
        raise Unprocessable(f"unknown category '{case.category}'", field="category")
    if case.agency is not None:
        if case.agency not in directory.agencies:
            raise Unprocessable(f"unknown agency '{case.agency}'", field="agency")
        return [case.agency]
    rule = directory.categories[case.category]
    if rule.agencies:
        return list(rule.agencies)
    governorate = case.location.governorate if case.location else None
    return [rule.by_governorate.get(governorate or "default", rule.by_governorate["default"])]
