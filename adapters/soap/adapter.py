"""The generic SOAP adapter: one class, every SOAP agency described by its YAML block (through zeep)."""

from __future__ import annotations

import threading
from typing import Any

import jmespath
import zeep
import zeep.exceptions as zx
from lxml import etree
from pydantic import BaseModel
from typing_extensions import override
from zeep.helpers import serialize_object

from adapters.attachments import AttachmentFetcher
from adapters.base import Adapter, Capabilities
from adapters.errors import ConfigError, DeliveryError, PermanentDeliveryError, RetriableDeliveryError
from adapters.http import EXCERPT_CHARS, RETRIABLE, Answer, agency_client
from adapters.mapping import MappingBuilder, context
from adapters.secrets import secret
from adapters.soap import wsdl
from adapters.soap.settings import SoapSettings
from adapters.soap.transport import BoundedTransport, WsSecurity
from schemas import AgencyConfig, Envelope, FollowOnEnvelope, FollowOnKind, Inbound, PollItem, Receipt

AUTH_CODES = frozenset(
    {"FailedAuthentication", "InvalidSecurityToken", "InvalidSecurity", "FailedCheck", "SecurityTokenUnavailable"}
)
"""WS-Security fault codes (as the fault code or a SOAP 1.2 subcode): the agency refused our credentials."""
HOSTILE = (zx.DTDForbidden, zx.EntitiesForbidden, zx.ExternalReferenceForbidden)


def _local(code: Any) -> str:
    """The local part of a fault code (`soap:Client`, `{ns}Sender`, a QName)."""
    text = getattr(code, "localname", None) or str(code or "")
    return text.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


class Fault(PermanentDeliveryError):
    """Raised when the agency answered with a SOAP fault the hub will not try again."""


class SoapAdapter(Adapter):
    """Delivers cases through an agency's SOAP operations, sends its follow-ons, looks cases up and polls.

    The WSDL is loaded on first use (never in the constructor), once per adapter, through the same
    bounded HTTP client the calls use and a cache the hub's processes share.
    """

    kind = "soap"
    settings_model = SoapSettings
    retriable_errors = RETRIABLE
    settings: SoapSettings

    def __init__(self, agency: AgencyConfig, settings: BaseModel) -> None:
        super().__init__(agency, settings)
        s = self.settings
        self.http = agency_client(s.tls, connect_timeout=s.connect_timeout, read_timeout=s.read_timeout, total=s.total)
        self.fetcher = AttachmentFetcher(connect_timeout=s.connect_timeout, read_timeout=s.read_timeout, total=s.total)
        self._port: wsdl.Port | None = None
        self._lock = threading.Lock()
        self.submit = MappingBuilder(s.submit.parameters)
        self.status = MappingBuilder(s.status.parameters) if s.status else None
        self.lookups = MappingBuilder(s.lookup.parameters) if s.lookup else None
        self.follow_on_parameters = {kind: MappingBuilder(call.parameters) for kind, call in s.follow_ons.items()}
        self.capabilities = Capabilities(
            follow_ons=frozenset(s.follow_ons),
            status_poll=s.status is not None,
            poll_interval=s.status.every_seconds if s.status is not None else 60.0,
            lookup=s.lookup is not None,
            idempotent=s.detects_duplicates,
        )

    # --- the WSDL -------------------------------------------------------------------------------

    def port(self) -> wsdl.Port:
        """The bound port, loading the WSDL on first use; a failure is retried at the next call."""
        with self._lock:
            if self._port is None:
                s = self.settings
                transport = BoundedTransport(
                    self.http, limit=s.max_answer_bytes, cache=wsdl.make_cache(s), basic=s.basic_auth
                )
                location = s.wsdl_location()
                try:
                    client = zeep.Client(
                        location,
                        transport=transport,
                        settings=wsdl.zeep_settings(s),
                        wsse=WsSecurity(s.wsse) if s.wsse is not None else None,
                    )
                    port = wsdl.bind(client, s)
                    port.enumerations = wsdl.enumerations(client, location, s)
                except DeliveryError:
                    raise
                except ConfigError as exc:  # the WSDL has no port the settings name: a configuration fix
                    raise PermanentDeliveryError(str(exc)) from None
                except HOSTILE as exc:
                    refused = f"the agency's WSDL was refused as hostile XML: {_reason(exc)}"
                    raise PermanentDeliveryError(refused) from None
                except (OSError, zx.Error, etree.XMLSyntaxError) as exc:
                    raise RetriableDeliveryError(f"the agency's WSDL could not be read: {_reason(exc)}") from None
                self._port = port
                self.log.info("soap.wsdl_loaded", port=port.name, address=port.address, soap=port.version)
            return self._port

    def problems(self) -> list[str]:
        """What is wrong with the configuration against the WSDL, each with its path; loads the WSDL."""
        s = self.settings
        port = self.port()
        names = port.operation_names()
        problems = []
        for use, operation in s.operations().items():
            if operation not in names:
                problems.append(f"{use}.operation: the WSDL has no operation '{operation}' (it has {', '.join(names)})")
                continue
            mapping = s.mappings()[use]
            sample = None
            if mapping.template is not None:  # rendered for the contract kit's sample case, then checked
                try:
                    sample = MappingBuilder(mapping).build(_sample_context(self.agency, use))
                except DeliveryError as exc:
                    problems.append(f"{use}.parameters.template: {exc}")
                    continue
            problems += wsdl.check_mapping(port, f"{use}.parameters", operation, mapping, sample)
        if s.status is not None and s.status.operation in names:
            problems += wsdl.check_codes(port, "status", s.status.operation, s.status.status, s.status.codes)
        return problems

    def explain(self) -> list[str]:
        """The port and every operation with its parameter tree, for `agencies check` (loads the WSDL)."""
        port = self.port()
        used: dict[str, list[str]] = {}
        for use, op in self.settings.operations().items():
            used.setdefault(op, []).append(use)
        lines = [f"port {port.name} (SOAP {port.version}) at {port.address}"]
        for name in port.operation_names():
            lines.append(f"{name}" + (f"   ← {', '.join(used[name])}" if name in used else ""))
            lines += wsdl.tree(port, wsdl.input_elements(port, name))
            out = wsdl.output_elements(port, name)
            if out:
                lines.append("  → answers")
                lines += wsdl.tree(port, out, "    ")
        return lines

    # --- calls ----------------------------------------------------------------------------------

    def _call(self, operation: str, parameters: Any, *, safe: bool, what: str) -> Any:
        """Call one operation; the result as plain dicts and lists, read from the answer's wrapper element."""
        port = self.port()
        transport: BoundedTransport = port.client.transport
        try:
            with transport.call(safe=safe, what=what):
                result = port.service[operation](**(parameters or {}))
        except Exception as exc:
            error = self.classify(exc)
            if error is None:
                raise
            adopted = error.context.get("action") == "adopt"  # a duplicate the hub takes as its receipt
            log = self.log.info if adopted else self.log.warning
            log("soap.call_failed", operation=operation, error=str(error), cause=type(exc).__name__)
            raise error from None
        data = serialize_object(result, dict)
        out = wsdl.output_elements(port, operation)
        if len(out) == 1 and not _is_wrapper(data, out[0][0]):
            data = {out[0][0]: data}  # zeep unwraps a one-child answer; paths always start at the wrapper
        return data

    @override
    def deliver(self, envelope: Envelope) -> Receipt:
        s = self.settings
        entries, _ = self.fetcher.prepare(envelope.case.attachments, s.attachments)
        params = self.submit.build(context(envelope, entries))
        try:
            data = self._call(s.submit.operation, params, safe=False, what="agency")
        except Fault as fault:
            ticket = fault.context.get("existing_ticket")
            if fault.context.get("action") == "adopt":
                if ticket:
                    self.log.info("soap.duplicate_adopted", handoff=envelope.handoff_id, ticket=ticket)
                    return Receipt(agency_reference=ticket)
                if s.lookup is not None:
                    found = self.lookup(envelope)
                    if found is not None:
                        return found
            raise
        if s.submit.ticket is None:
            return Receipt()
        found = jmespath.search(s.submit.ticket, data)
        if found in (None, ""):
            raise PermanentDeliveryError(
                f"agency answered {s.submit.operation} without a ticket id at `{s.submit.ticket}`; "
                "it may have taken the case: check with the agency before delivering again",
                response_excerpt=str(data)[:EXCERPT_CHARS],
            )
        return Receipt(agency_reference=str(found))

    @override
    def follow_on(self, envelope: FollowOnEnvelope) -> Receipt:
        kind = envelope.follow_on.kind
        call = self.settings.follow_ons[kind]
        params = self.follow_on_parameters[kind].build(context(envelope))
        self._call(call.operation, params, safe=False, what="agency")
        return Receipt(agency_reference=envelope.agency_reference)

    @override
    def lookup(self, envelope: Envelope) -> Receipt | None:
        spec = self.settings.lookup
        if spec is None or self.lookups is None:
            raise NotImplementedError("no lookup configured")
        data = self._call(spec.operation, self.lookups.build(context(envelope)), safe=True, what="agency lookup")
        found = jmespath.search(spec.ticket, data)
        return None if found in (None, "", []) else Receipt(agency_reference=str(found))

    @override
    def poll(self, items: list[PollItem]) -> list[Inbound]:
        """One status call per handoff; a refused one is skipped, an unreachable agency ends the pass."""
        spec, builder = self.settings.status, self.status
        if spec is None or builder is None:
            return []
        messages: list[Inbound] = []
        for item in items:
            if spec.needs_reference and not item.agency_reference:
                continue
            ctx = {
                "handoff_id": item.handoff_id,
                "agency_reference": item.agency_reference,
                "round": item.round,
                "state": item.state,
            }
            try:
                data = self._call(spec.operation, builder.build(ctx), safe=True, what="agency status")
            except RetriableDeliveryError as exc:  # unreachable or overloaded: one timeout per pass is enough
                self.log.warning("poll.stopped", handoff=item.handoff_id, error=str(exc))
                break
            except DeliveryError as exc:  # this ticket only (unknown to the agency, say)
                self.log.warning("poll.failed", handoff=item.handoff_id, error=str(exc))
                continue
            message = spec.message(item, data)
            if message is not None:
                messages.append(message)
        return messages

    # --- errors ---------------------------------------------------------------------------------

    @override
    def classify(self, exc: BaseException) -> DeliveryError | None:
        """A SOAP fault, a transport error or a refused answer as the error that says what happens next."""
        if isinstance(exc, zx.Fault):
            last = self._last()
            if exc.code is None and last is not None and last.status != 200:  # an error page, not a SOAP Fault
                return self._transport(zx.TransportError(status_code=last.status))
            return self._fault(exc)
        if isinstance(exc, zx.TransportError):
            return self._transport(exc)
        if isinstance(exc, zx.ValidationError | TypeError) and self._port is not None:
            return PermanentDeliveryError(f"the agency's mapping does not fit its WSDL: {_reason(exc)}")
        return self._refused(exc) or super().classify(exc)

    def _refused(self, exc: BaseException) -> DeliveryError | None:
        """An answer refused as hostile or malformed: permanent, the agency may have acted on the call."""
        if isinstance(exc, HOSTILE):
            return self._refused_as_hostile(exc)
        if isinstance(exc, zx.XMLSyntaxError | zx.XMLParseError | etree.XMLSyntaxError):
            return PermanentDeliveryError(
                f"agency's answer is not the SOAP its WSDL describes ({_reason(exc)}); "
                "it may have taken the case: check with the agency before delivering again",
                response_excerpt=self._excerpt(),
            )
        return None

    def _refused_as_hostile(self, exc: BaseException) -> DeliveryError:
        return PermanentDeliveryError(
            f"the agency's answer was refused as hostile XML ({self._hostile(exc)}); "
            "it may have taken the case: check with the agency before delivering again",
            response_excerpt=self._excerpt(),
        )

    def _transport(self, exc: zx.TransportError) -> DeliveryError:
        """An HTTP answer with no SOAP in it: 5xx and 429 retried, 401/403 credentials, the rest refused."""
        status = exc.status_code
        if status in (401, 403):
            return PermanentDeliveryError(
                f"the agency refused the hub's credentials (HTTP {status}): check `basic_auth`, `wsse` "
                "and the secrets they name",
                response_excerpt=self._excerpt(),
            )
        last = self._last()
        if last is not None and b"<!DOCTYPE" in last.content[:4096]:  # refused by the parser: an entity loop, say
            return self._refused_as_hostile(exc)
        if status == 429 or status >= 500:
            return RetriableDeliveryError(
                f"agency answered HTTP {status} without a SOAP fault", response_excerpt=self._excerpt()
            )
        found = str(getattr(exc, "message", "") or exc).split("\nContent:", 1)[0]
        why = found.rsplit("invalid XML: ", 1)[-1][:200] if "invalid XML: " in found else ""
        return PermanentDeliveryError(
            f"agency answered HTTP {status} with a body that is not XML{f' ({why})' if why else ''}; "
            "it may have taken the case: check with the agency before delivering again",
            response_excerpt=self._excerpt(),
        )

    def _fault(self, fault: zx.Fault) -> DeliveryError:
        f = self.settings.faults
        codes = [_local(fault.code), *(_local(c) for c in getattr(fault, "subcodes", None) or [])]
        detail = fault.detail if isinstance(fault.detail, etree._Element) else None
        detail_code = _text(detail, f.code)
        action = f.codes.get(detail_code or "")
        reason = f"SOAP fault {fault.code}: {fault.message}" + (f" (detail code {detail_code})" if detail_code else "")
        excerpt = etree.tostring(detail, encoding="unicode")[:EXCERPT_CHARS] if detail is not None else None
        context: dict[str, Any] = {"fault_code": str(fault.code), "detail_code": detail_code, "action": action}
        if action == "adopt":
            return Fault(reason, response_excerpt=excerpt, existing_ticket=_text(detail, f.ticket), **context)
        if action == "auth" or AUTH_CODES & set(codes):
            return Fault(
                f"the agency refused the hub's credentials ({reason}): check `wsse` and the secret it names; "
                "the hub will not try again",
                response_excerpt=excerpt,
                **context,
            )
        if action == "retry":
            return RetriableDeliveryError(reason, response_excerpt=excerpt, **context)
        if action == "permanent":
            return Fault(reason, response_excerpt=excerpt, **context)
        if codes[0] in ("Server", "Receiver"):
            return RetriableDeliveryError(reason, response_excerpt=excerpt, **context)
        return Fault(reason, response_excerpt=excerpt, **context)

    def _last(self) -> Answer | None:
        """The answer this thread read last (None before the WSDL is loaded)."""
        port = self._port
        return port.client.transport.last if port is not None else None

    def _excerpt(self) -> str | None:
        last = self._last()
        return last.excerpt() if last is not None else None

    def _hostile(self, exc: BaseException) -> str:
        last = self._last()
        content = last.content if last is not None else b""
        if isinstance(exc, zx.ExternalReferenceForbidden) or b" SYSTEM " in content or b" PUBLIC " in content:
            return "it refers to an external resource"
        if isinstance(exc, zx.EntitiesForbidden) or b"<!ENTITY" in content:
            return "it declares XML entities"
        return "it carries a DTD"

    # --- the rest of the contract ---------------------------------------------------------------

    @override
    def check(self) -> None:
        """Secrets set, the WSDL loads, every configured operation and field exists, codes are the WSDL's."""
        for name in self.settings.secret_envs():
            try:
                secret(name)
            except DeliveryError as exc:
                raise ConfigError(str(exc)) from None
        try:
            problems = self.problems()
        except DeliveryError as exc:
            raise ConfigError(f"wsdl {self.settings.wsdl}: {exc}") from None
        if problems:
            raise ConfigError(problems[0], problems)

    @override
    def close(self) -> None:
        self.http.close()
        self.fetcher.close()

    @override
    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            **super().describe(),
            "wsdl": s.wsdl,
            "soap_version": s.soap_version,
            "wsse": None if s.wsse is None else ("digest" if s.wsse.digest else "text"),
            "operations": s.operations(),
        }


def _sample_context(agency: AgencyConfig, use: str) -> dict[str, Any]:
    """What a mapping reads for `use`, built from the contract kit's sample case."""
    from adapters.testing.contract import envelope_for, follow_on_for

    if use.startswith("follow_ons."):
        return context(follow_on_for(agency, FollowOnKind(use.split(".", 1)[1])))
    if use == "status":
        return {"handoff_id": "h_sample", "agency_reference": "T-1", "round": 1, "state": "delivered"}
    return context(envelope_for(agency))


def _is_wrapper(data: Any, child: str) -> bool:
    return isinstance(data, dict) and set(data) == {child}


def _text(node: etree._Element | None, local: str) -> str | None:
    """The text of the first element called `local` (any namespace) under `node`."""
    if node is None:
        return None
    for element in node.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname == local:
            return (element.text or "").strip() or None
    return None


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"
