"""A REST agency simulator: a real HTTP server that plays any number of agencies.

For integrators' tests, the hub's own tests, the demo and the benchmarks.

Endpoints (`{agency}` is any agency id):

* `POST /{agency}/cases`: a delivery. The signature is checked when a secret is known for the
  agency (401 if wrong); the same Idempotency-Key always gets the same ticket id; a JSON body whose
  reference (the profile's `reference_key`) is present but empty is invalid (400).
* `POST /{agency}/…/reminders`: a deadline reminder, recorded (signature checked as above).
* `GET /{agency}/cases/{ticket or handoff id}`: the case's current status (for polling).
* `POST /_sim/oauth/token`: OAuth2 client credentials; tokens live `token_seconds`.
* `POST /_sim/{agency}/mode`: how the agency behaves from now on (JSON of `Behaviour`'s fields).
* `GET /_sim/requests[?agency=…]`: every request recorded, headers and body included.
* `GET /_sim/files/{name}`: a file put in `Controller.files` (attachments for the hub to fetch).

Modes: `ok`, `slow` (waits `delay`), `500`, `503` and `429` (with `Retry-After: retry_after`), `400`,
`401`, `invalid-json`, `no-ticket`, `drop` (closes the connection unanswered), `hang` (never
answers until the server stops or `hang_seconds` pass), and, to show the conformance kit failing,
`ignore-signature` (accepts any signature), `mangle-arabic` (stores the body in Windows-1256, which
reads back garbled as UTF-8) and `500-on-invalid` (a delivery whose reference is empty gets 500,
not the usual 400); `idempotency: false` makes every POST a new ticket. `times` limits a failing mode to the next n
deliveries. `answer_after` makes the agency acknowledge and then answer each accepted case after
that many seconds: its status endpoint changes, and with `push`, it also POSTs both messages to
the hub's agency API (`{hub_url}/agency/v1/handoffs/{id}/messages`, header `X-API-Key`).
"""

from adapters.testing.rest_agency.controller import (
    MODES,
    NESTED,
    Behaviour,
    Controller,
    Profile,
    Request,
    profile_for,
    simulate_agencies,
)
from adapters.testing.rest_agency.server import DEMO_PORT, Simulator, running_simulator, start_simulator

__all__ = [
    "DEMO_PORT",
    "MODES",
    "NESTED",
    "Behaviour",
    "Controller",
    "Profile",
    "Request",
    "Simulator",
    "profile_for",
    "running_simulator",
    "simulate_agencies",
    "start_simulator",
]
