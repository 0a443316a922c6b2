"""The SOAP agency simulator's HTTP server: the standard library's threading server on a real socket.

Envelopes are parsed and written with lxml, never by zeep: the hub's client and this server share
no code, so a test that passes shows two independent SOAP stacks agreeing on the wire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from string import Template
from typing import Any

import structlog
from lxml import etree

from adapters.testing.soap_agency.controller import Behaviour, Controller, Credentials, Profile, Request, find_text

log = structlog.get_logger(__name__)

DEMO_PORT = 8702
ENVELOPE = {"1.1": "http://schemas.xmlsoap.org/soap/envelope/", "1.2": "http://www.w3.org/2003/05/soap-envelope"}
CONTENT_TYPE = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
Spec = dict[str, Any]
"""A response body: child name → text, a nested Spec, a list of Specs (repeated), or None (left out)."""


class SoapFault(Exception):
    """A fault to answer with: `who` is `client` or `server`; `subcode` a WS-Security code."""

    def __init__(self, who: str, text: str, *, code: str | None = None, ticket: str | None = None, subcode: str = ""):
        super().__init__(text)
        self.who, self.text, self.code, self.ticket, self.subcode = who, text, code, ticket, subcode


def build(namespace: str, name: str, spec: Spec) -> etree._Element:
    """An element in `namespace` with its children as `spec` says."""
    element = etree.Element(etree.QName(namespace, name), nsmap={"a": namespace})
    _fill(element, namespace, spec)
    return element


def _fill(parent: etree._Element, namespace: str, spec: Spec) -> None:
    for key, value in spec.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            child = etree.SubElement(parent, etree.QName(namespace, key))
            if isinstance(item, dict):
                _fill(child, namespace, item)
            else:
                child.text = str(item).lower() if isinstance(item, bool) else str(item)


def envelope(version: str, body: etree._Element) -> bytes:
    """A SOAP envelope of `version` around one body element, as UTF-8 bytes."""
    env = ENVELOPE[version]
    root = etree.Element(etree.QName(env, "Envelope"), nsmap={"soap": env})
    etree.SubElement(root, etree.QName(env, "Body")).append(body)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def fault_envelope(version: str, profile: Profile, fault: SoapFault) -> bytes:
    """A SOAP 1.1 or 1.2 Fault, with the profile's detail element when the fault has a code."""
    env = ENVELOPE[version]
    root = etree.Element(etree.QName(env, "Envelope"), nsmap={"soap": env, "wsse": WSSE})
    node = etree.SubElement(etree.SubElement(root, etree.QName(env, "Body")), etree.QName(env, "Fault"))
    detail = None
    if fault.code is not None:
        detail = build(
            profile.namespace, profile.fault, {profile.fault_code: fault.code, profile.fault_ticket: fault.ticket}
        )
    if version == "1.1":
        code = f"wsse:{fault.subcode}" if fault.subcode else ("soap:Client" if fault.who == "client" else "soap:Server")
        etree.SubElement(node, "faultcode").text = code
        etree.SubElement(node, "faultstring").text = fault.text
        if detail is not None:
            etree.SubElement(node, "detail").append(detail)
    else:
        code_node = etree.SubElement(node, etree.QName(env, "Code"))
        value = "soap:Sender" if fault.who == "client" else "soap:Receiver"
        etree.SubElement(code_node, etree.QName(env, "Value")).text = value
        if fault.subcode:
            sub = etree.SubElement(code_node, etree.QName(env, "Subcode"))
            etree.SubElement(sub, etree.QName(env, "Value")).text = f"wsse:{fault.subcode}"
        reason = etree.SubElement(node, etree.QName(env, "Reason"))
        text = etree.SubElement(reason, etree.QName(env, "Text"))
        text.text = fault.text
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "ar")
        if detail is not None:
            etree.SubElement(node, etree.QName(env, "Detail")).append(detail)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


HOSTILE = {
    "malformed": b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><x>',
    "not-soap": b"<html><body><p>Service temporarily moved</p></body></html>",
    "dtd": b'<?xml version="1.0"?>\n<!DOCTYPE Envelope [<!ELEMENT Envelope ANY>]>\n',
    "billion-laughs": (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        + b"".join(
            f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
            for i in range(1, 10)
        )
        + b"]>\n"
    ),
    "external-entity": b'<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
}
"""Answers no client should read: a DTD, entity expansion (billion laughs), an external entity, broken XML."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    controller: Controller


class Handler(BaseHTTPRequestHandler):
    """Serves the WSDL (`GET /{agency}?wsdl`) and the operations (`POST /{agency}`)."""

    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, 40 ms each

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the controller, not the log."""

    @property
    def controller(self) -> Controller:
        """The simulator's state."""
        return self.server.controller

    def _agency(self) -> str:
        return self.path.split("?", 1)[0].strip("/").split("/", 1)[0]

    def do_GET(self) -> None:
        """The agency's WSDL, its address pointing back at this server."""
        agency = self._agency()
        if "?" not in self.path or self.path.split("?", 1)[1].lower() != "wsdl" or not agency:
            self._send(404, b"not found", "text/plain")
            return
        profile = self.controller.profile(agency)
        self.controller.wsdl_fetches += 1
        b = self.controller.take_behaviour(agency, "wsdl")
        if b.mode in HOSTILE:  # a WSDL no client should read
            self._send(200, HOSTILE[b.mode] + b"<definitions/>", "text/xml")
            return
        template = files("adapters.testing.soap_agency").joinpath(profile.wsdl).read_text(encoding="utf-8")
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        address = f"{scheme}://{self.headers.get('Host', '127.0.0.1')}/{agency}"
        self._send(200, Template(template).substitute(address=address).encode(), "text/xml; charset=utf-8")

    def do_POST(self) -> None:
        """One operation call, as the agency's behaviour says."""
        agency = self._agency()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        version = "1.2" if "application/soap+xml" in (self.headers.get("Content-Type") or "") else "1.1"
        profile = self.controller.profile(agency)
        try:
            root = etree.fromstring(body, SAFE)
            if root.getroottree().docinfo.doctype:
                raise SoapFault("client", "DTDs are not accepted")
            payload = self._payload(root, version)
        except (etree.XMLSyntaxError, SoapFault) as exc:
            fault = exc if isinstance(exc, SoapFault) else SoapFault("client", f"malformed request: {exc}")
            self._fault(version, profile, fault)
            return
        operation = etree.QName(payload).localname
        action = profile.operations.get(operation, "unknown")
        headers = {k: v for k, v in self.headers.items()}
        self.controller.record(Request(agency, operation, action, version, headers, body))
        try:
            self._authorise(agency, root)
            b = self.controller.take_behaviour(agency, action)
            if self._misbehave(b, version, profile) or action == "unknown":
                if action == "unknown":
                    raise SoapFault("client", f"no operation {operation}")
                return
            answer = self._operate(agency, profile, action, payload, b)
            if b.mode == "timeout-after-create":
                self._hang(b)
                return
            self._send(200, envelope(version, answer), CONTENT_TYPE[version])
        except SoapFault as fault:
            self._fault(version, profile, fault)

    # --- the parts of a call -------------------------------------------------------------------

    def _payload(self, root: etree._Element, version: str) -> etree._Element:
        if root.tag != etree.QName(ENVELOPE[version], "Envelope"):
            raise SoapFault("client", f"expected a SOAP {version} Envelope, got {root.tag}")
        body = root.find(etree.QName(ENVELOPE[version], "Body").text)
        children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
        if not children:
            raise SoapFault("client", "empty SOAP Body")
        return children[0]

    def _authorise(self, agency: str, root: etree._Element) -> None:
        basic = self.controller.basic.get(agency)
        if basic is not None:
            expected = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                raise _Unauthorised
        creds = self.controller.credentials.get(agency)
        if creds is not None:
            problem = security_problem(root, creds, self.controller)
            if problem is not None:
                raise SoapFault("client", f"authentication failed: {problem}", subcode="FailedAuthentication")

    def _misbehave(self, b: Behaviour, version: str, profile: Profile) -> bool:
        """Answer as the mode says; False when the call should be served normally."""
        mode = b.mode
        if mode == "slow":
            self.controller.stopping.wait(b.delay)
            return False
        if mode in ("ok", "timeout-after-create"):
            return False
        if mode == "hang":
            self._hang(b)
        elif mode == "drop":
            self.close_connection = True
        elif mode in ("client-fault", "server-fault", "auth-fault"):
            who = "server" if mode == "server-fault" else "client"
            subcode = "FailedAuthentication" if mode == "auth-fault" else ""
            self._fault(version, profile, SoapFault(who, b.fault_text, code=b.detail_code, subcode=subcode))
        elif mode == "http-500":
            self._send(500, b"", CONTENT_TYPE[version])
        elif mode == "http-500-html":
            self._send(500, b"<html><body><h1>Internal Server Error</h1></body></html>", "text/html")
        elif mode == "http-503":
            self._send(503, b"", "text/plain")
        elif mode in HOSTILE:
            tail = b"" if mode in ("malformed", "not-soap") else self._hostile_tail(mode, version)
            self._send(200, HOSTILE[mode] + tail, CONTENT_TYPE[version])
        elif mode == "oversized":
            self._oversized(b, version)
        elif mode == "deep":  # small, but nested far deeper than any sane answer: a parser without limits suffers
            env = ENVELOPE[version]
            deep = "<x>" * 100_000 + "</x>" * 100_000
            body = f'<soap:Envelope xmlns:soap="{env}"><soap:Body>{deep}</soap:Body></soap:Envelope>'
            self._send(200, body.encode(), CONTENT_TYPE[version])
        return True

    def _hostile_tail(self, mode: str, version: str) -> bytes:
        ref = {"billion-laughs": "&lol9;", "external-entity": "&xxe;"}.get(mode, "")
        env = ENVELOPE[version]
        return f'<soap:Envelope xmlns:soap="{env}"><soap:Body><x>{ref}</x></soap:Body></soap:Envelope>'.encode()

    def _oversized(self, b: Behaviour, version: str) -> None:
        """A valid envelope longer than any limit, sent without Content-Length (read until the connection closes)."""
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE[version])
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        env = ENVELOPE[version]
        self.wfile.write(f'<soap:Envelope xmlns:soap="{env}"><soap:Body><x>'.encode())
        chunk = ("ا" * 8192).encode()
        try:
            for _ in range(b.size // len(chunk) + 1):
                self.wfile.write(chunk)
            self.wfile.write(b"</x></soap:Body></soap:Envelope>")
        except OSError:
            pass  # the client stopped reading at its limit: as intended

    def _hang(self, b: Behaviour) -> None:
        self.controller.stopping.wait(b.hang_seconds)
        self.close_connection = True

    def _operate(self, agency: str, p: Profile, action: str, payload: etree._Element, b: Behaviour) -> Any:
        c = self.controller
        ns = p.namespace
        if action == "submit":
            reference = find_text(payload, p.reference)
            if not reference:
                raise SoapFault("client", "no reference", code="INVALID")
            ticket, duplicate = c.create(agency, reference, b)
            if p.name == "cases":
                if duplicate:
                    raise SoapFault(
                        "client", "الحالة مسجلة من قبل / already registered", code="DUPLICATE", ticket=ticket.ticket
                    )
                now = datetime.now(UTC).isoformat(timespec="seconds")
                return build(ns, "SubmitCaseResponse", {"ticketId": ticket.ticket, "receivedAt": now})
            return build(
                ns, "CreateTicketResponse", {"Result": {"TicketNumber": ticket.ticket, "Duplicate": duplicate}}
            )
        if action == "find":
            return build(ns, "FindCaseResponse", {"ticketId": c.find(agency, find_text(payload, "reference") or "")})
        ticket_id = find_text(payload, p.ticket) or ""
        if action == "status":
            found = c.status(agency, ticket_id)
            if found is None:
                raise SoapFault("client", f"unknown ticket {ticket_id}", code="UNKNOWN_TICKET")
            t, code, text, revision = found
            if p.name == "cases":
                spec = {"ticketId": t.ticket, "status": code, "remark": text or None, "revision": revision}
                return build(ns, "GetCaseStatusResponse", spec)
            spec = {"TicketNumber": t.ticket, "ExternalRef": t.reference, "State": code, "Resolution": text or None}
            return build(ns, "QueryTicketResponse", {"Ticket": {**spec, "Version": revision}})
        if not c.add_note(
            agency, ticket_id, find_text(payload, p.note_id) or "", find_text(payload, p.note_text) or ""
        ):
            raise SoapFault("client", f"unknown ticket {ticket_id}", code="UNKNOWN_TICKET")
        return (
            build(ns, "AddNoteResponse", {"accepted": True})
            if p.name == "cases"
            else build(ns, "AppendCommentResponse", {"Ok": True})
        )

    def _fault(self, version: str, profile: Profile, fault: SoapFault) -> None:
        status = 500 if version == "1.1" or fault.who == "server" else 400
        self._send(status, fault_envelope(version, profile, fault), CONTENT_TYPE[version])

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_one_request(self) -> None:
        """Answer 401 to a call without the agency's HTTP basic credentials."""
        try:
            super().handle_one_request()
        except _Unauthorised:
            self._send(401, b"", "text/plain")


class _Unauthorised(Exception):
    pass


def security_problem(root: etree._Element, creds: Credentials, controller: Controller) -> str | None:
    """What is wrong with the call's WS-Security header, or None (UsernameToken text or digest, Timestamp)."""
    security = next(root.iter(f"{{{WSSE}}}Security"), None)
    token = security.find(f"{{{WSSE}}}UsernameToken") if security is not None else None
    if security is None or token is None:
        return "no UsernameToken"
    problem = _password_problem(token, creds)
    nonce = token.findtext(f"{{{WSSE}}}Nonce") or ""
    created = token.findtext(f"{{{WSU}}}Created") or ""
    if problem is None and nonce and not controller.use_nonce(nonce):
        problem = "nonce used before"
    if problem is None and created and abs(time.time() - _when(created)) > creds.max_age:
        problem = "created time too old"
    if problem is None and creds.timestamp:
        stamp = security.find(f"{{{WSU}}}Timestamp")
        expires = stamp.findtext(f"{{{WSU}}}Expires") if stamp is not None else None
        problem = "no Timestamp" if not expires else ("Timestamp expired" if _when(expires) < time.time() else None)
    return problem


def _password_problem(token: etree._Element, creds: Credentials) -> str | None:
    password = token.find(f"{{{WSSE}}}Password")
    if token.findtext(f"{{{WSSE}}}Username") != creds.username or password is None:
        return "unknown user"
    kind = (password.get("Type") or "#PasswordText").rsplit("#", 1)[-1]
    if kind not in creds.accept:
        return f"{kind} is not accepted here"
    expected = creds.password
    if kind == "PasswordDigest":
        nonce = token.findtext(f"{{{WSSE}}}Nonce") or ""
        created = token.findtext(f"{{{WSU}}}Created") or ""
        try:
            raw = base64.b64decode(nonce, validate=True)
        except binascii.Error:
            return "bad nonce"
        digest = hashlib.sha1(raw + created.encode() + creds.password.encode(), usedforsecurity=False).digest()
        expected = base64.b64encode(digest).decode()
    return None if (password.text or "") == expected else "wrong password"


def _when(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@dataclass
class Simulator:
    """A running simulator: its base URL (agencies at `{url}/{agency}`, WSDLs at `{url}/{agency}?wsdl`)."""

    url: str
    controller: Controller
    server: _Server
    thread: threading.Thread

    def wsdl(self, agency: str) -> str:
        """The URL of an agency's WSDL."""
        return f"{self.url}/{agency}?wsdl"

    def stop(self) -> None:
        """Release hanging calls, then stop serving."""
        self.controller.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def start_simulator(
    port: int = 0, *, controller: Controller | None = None, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> Simulator:
    """Serve the simulator on `port` (0: any free port) in a daemon thread; with `tls`, it speaks HTTPS."""
    server = _Server((host, port), Handler)
    server.controller = controller or Controller()
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="soap-agency-simulator", daemon=True)
    thread.start()
    url = f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}"
    log.info("soap_simulator.started", url=url)
    return Simulator(url, server.controller, server, thread)


@contextmanager
def running_simulator(controller: Controller | None = None, tls: ssl.SSLContext | None = None) -> Iterator[Simulator]:
    """A simulator on a free port for the duration of the block."""
    sim = start_simulator(0, controller=controller, tls=tls)
    try:
        yield sim
    finally:
        sim.stop()
