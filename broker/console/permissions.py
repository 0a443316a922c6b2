"""Who may do what in the console: the one table of roles and permissions."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A staff member's role."""

    officer = "officer"
    """Follow-up officer: chases agencies, records what they say, settles deliveries."""
    reviewer = "reviewer"
    """Reviews agencies' answers before the citizen sees them, and closes cases."""
    admin = "admin"
    """Administrator: everything, and the staff accounts."""


class Permission(StrEnum):
    """One thing the console lets a role do."""

    view = "view"  # the queue, handoffs, cases, agencies, statistics
    follow_up = "follow_up"  # record a contact, resend, confirm, transfer, extensions, assign
    review = "review"  # accept (and edit the reply) or return an answer
    close = "close"  # close a replied case
    mark_recurring = "mark_recurring"  # mark a recurring-complaints group as a known problem with its owner
    see_cpr = "see_cpr"  # the citizen's CPR unmasked
    manage_users = "manage_users"  # staff accounts


P = Permission
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.officer: frozenset({P.view, P.follow_up, P.see_cpr}),
    Role.reviewer: frozenset({P.view, P.review, P.close, P.mark_recurring}),
    Role.admin: frozenset(Permission),
}
"""Each role's permissions. Officers phone agencies that are not connected and may have to give the
citizen's CPR; reviewers read answers and never need it. Reviewers read every answer, so they are the
ones who see a problem come back and name the agency that owns its permanent fix."""

ROLE_LABELS: dict[Role, tuple[str, str]] = {
    Role.officer: ("موظف متابعة", "follow-up officer"),
    Role.reviewer: ("مراجع", "reviewer"),
    Role.admin: ("مدير النظام", "administrator"),
}


def allowed(role: str, permission: Permission) -> bool:
    """Whether `role` has `permission` (an unknown role has none)."""
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False


def mask_cpr(cpr: str) -> str:
    """A CPR with all but its last three digits hidden."""
    return "•" * max(len(cpr) - 3, 0) + cpr[-3:]
