"""A SOAP agency simulator: a real SOAP 1.1 and 1.2 service over HTTP that plays any number of agencies.

For integrators' tests, the hub's own tests and the demo. Each agency (`{url}/{agency}`) is played
with one of two WSDLs (`GET {url}/{agency}?wsdl`):

* `cases` (the default): SubmitCase, GetCaseStatus, AddNote and FindCase in `urn:tawasul:sim:cases:1`,
  flat parameters, SOAP 1.1 and 1.2 ports; a second submission of the same reference is a client
  fault with detail code DUPLICATE naming the first ticket.
* `tickets`: CreateTicket, QueryTicket and AppendComment in `http://ticketing.example.bh/v2`, nested
  parameters, other enumerations, SOAP 1.2 only; a second submission answers the first ticket again.

The controller sets, per agency, the UsernameToken it requires (PasswordText and/or PasswordDigest,
nonce, created time and Timestamp checked), HTTP basic credentials, and a behaviour: faults on demand
(client, server, authentication, with a detail code), slow and hanging calls, HTTP 500 with or
without a body, and hostile answers (malformed XML, a DTD, billion laughs, an external entity,
nesting deeper than any parser should follow, an answer larger than any limit, a hostile WSDL).
"""

from adapters.testing.soap_agency.controller import (
    CASES,
    MODES,
    PROFILES,
    TICKETS,
    Behaviour,
    Controller,
    Credentials,
    Profile,
    Request,
    simulate_agencies,
)
from adapters.testing.soap_agency.server import DEMO_PORT, Simulator, running_simulator, start_simulator

__all__ = [
    "CASES",
    "DEMO_PORT",
    "MODES",
    "PROFILES",
    "TICKETS",
    "Behaviour",
    "Controller",
    "Credentials",
    "Profile",
    "Request",
    "Simulator",
    "running_simulator",
    "simulate_agencies",
    "start_simulator",
]
