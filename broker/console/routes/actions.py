"""Running one core action for a form: on success back to the page with "done", else with the reason."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from broker.console.web import Staff
from broker.errors import Conflict, InvalidTransition, NotFound, Unprocessable


def act(person: Staff, back: str, action: Callable[[], object], done: str = "done") -> RedirectResponse:
    """Call `action` (a function of the core, as the CLI calls it) and go back to `back` with the outcome."""
    try:
        action()
    except (NotFound, InvalidTransition, Conflict, Unprocessable) as exc:
        return person.redirect(back, f"{person.texts('not_done')} {exc}")
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return person.redirect(back, f"{person.texts('not_done')} {reasons}")
    return person.redirect(back, person.texts(done))
