"""The agency's WSDL: loaded once (through the bounded transport and a shared cache), described, checked.

zeep reads the WSDL but keeps no enumeration facets (it never enforces `xs:enumeration`), so the
schemas are read a second time here, with the same refusing parser, for their enumerations: a code
list that sends a value outside the agency's enumeration is a configuration error found by
`config check`, not a fault on the first real case.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import zeep
from lxml import etree
from zeep.cache import SqliteCache
from zeep.loader import parse_xml
from zeep.wsdl.bindings.soap import Soap11Binding, Soap12Binding
from zeep.xsd import ComplexType

from adapters.errors import ConfigError
from adapters.mapping import FieldRule, Mapping
from adapters.soap.settings import SoapSettings

XSD = "http://www.w3.org/2001/XMLSchema"
CACHE_ENV = "HUB_WSDL_CACHE"
"""Where the WSDL cache lives (an SQLite file); default: the user's cache directory."""


def cache_path() -> Path:
    """The per-user WSDL cache file (SQLite: safe for several processes at once)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tawasul-hub" / "wsdl-cache.sqlite"


def make_cache(settings: SoapSettings) -> SqliteCache | None:
    """The shared cache, or None when the agency's WSDL must be fetched every time the hub starts."""
    if settings.wsdl_cache_seconds == 0 or not settings.remote:
        return None
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteCache(path=str(path), timeout=settings.wsdl_cache_seconds)


def zeep_settings(settings: SoapSettings) -> zeep.Settings:
    """No DTD, no entity, no external reference, no huge tree; strict unless the agency's config says."""
    return zeep.Settings(
        strict=settings.strict,
        xml_huge_tree=False,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=not settings.wsdl_imports,
    )


@dataclass
class Port:
    """The bound port: the service proxy to call and the binding that describes its operations."""

    client: zeep.Client
    service: Any
    binding: Any
    name: str
    address: str
    version: str
    enumerations: dict[str, list[str]] = field(default_factory=dict)

    def operation(self, name: str) -> Any:
        """The binding's operation called `name` (KeyError if the WSDL has none)."""
        return self.binding._operations[name]

    def operation_names(self) -> list[str]:
        """Every operation of the port, sorted."""
        return sorted(self.binding._operations)


def bind(client: zeep.Client, settings: SoapSettings) -> Port:
    """Choose the service and port the settings name (or the only one, or the one of the SOAP version)."""
    wanted = {"1.1": Soap11Binding, "1.2": Soap12Binding}
    found = []
    for service in client.wsdl.services.values():
        if settings.service is not None and service.name != settings.service:
            continue
        for port in service.ports.values():
            if settings.port is not None and port.name != settings.port:
                continue
            if settings.soap_version is not None and not isinstance(port.binding, wanted[settings.soap_version]):
                continue
            found.append((service, port))
    if len(found) != 1:
        ports = [f"{s.name}/{p.name}" for s in client.wsdl.services.values() for p in s.ports.values()]
        which = "no port matches" if not found else f"{len(found)} ports match"
        raise ConfigError(f"wsdl: {which} `service`, `port` and `soap_version`; the WSDL has {', '.join(ports)}")
    service, port = found[0]
    address = settings.endpoint or port.binding_options.get("address")
    if not address:
        raise ConfigError(f"wsdl: port {port.name} has no address; set `endpoint`")
    version = "1.2" if isinstance(port.binding, Soap12Binding) else "1.1"
    proxy = client.create_service(port.binding.name, address)
    return Port(client, proxy, port.binding, f"{service.name}/{port.name}", address, version)


def enumerations(client: zeep.Client, location: str, settings: SoapSettings) -> dict[str, list[str]]:
    """Each simple type with `xs:enumeration` facets, by the qualified name zeep gives its type."""
    found: dict[str, list[str]] = {}
    seen: set[str] = set()
    zs = zeep_settings(settings)

    def read(where: str) -> None:
        if where in seen:
            return
        seen.add(where)
        doc = parse_xml(client.transport.load(where), client.transport, where, settings=zs)
        schemas = [doc] if doc.tag == f"{{{XSD}}}schema" else doc.iter(f"{{{XSD}}}schema")
        for schema in schemas:
            tns = schema.get("targetNamespace", "")
            for simple in schema.iter(f"{{{XSD}}}simpleType"):
                values = [e.get("value") for e in simple.iter(f"{{{XSD}}}enumeration")]
                if not values:
                    continue
                owner = simple if simple.get("name") else simple.getparent()
                name = owner.get("name") if owner is not None else None
                if name:
                    found[etree.QName(tns or None, name).text] = [v for v in values if v is not None]
            for ref in schema.iter(f"{{{XSD}}}import", f"{{{XSD}}}include"):
                target = ref.get("schemaLocation")
                if target and (settings.wsdl_imports or "://" not in target):
                    read(urljoin(where, target) if "://" in where else str(Path(where).parent / target))

    read(location)
    return found


# --- describing and checking ------------------------------------------------------------------


def children(xsd_type: Any) -> list[tuple[str, Any]]:
    """The child elements of a complex type (empty for a simple one)."""
    return list(xsd_type.elements) if isinstance(xsd_type, ComplexType) else []


def input_elements(port: Port, operation: str) -> list[tuple[str, Any]]:
    """The parameters an operation takes: the children of its input wrapper."""
    body = port.operation(operation).input.body
    return children(body.type) if body is not None else []


def output_elements(port: Port, operation: str) -> list[tuple[str, Any]]:
    """What an operation answers: the children of its output wrapper."""
    output = port.operation(operation).output
    body = getattr(output, "body", None)
    return children(body.type) if body is not None else []


def required(element: Any) -> bool:
    """An element the agency's schema requires (minOccurs ≥ 1 and not nillable)."""
    return bool(element.min_occurs and element.min_occurs > 0 and not element.nillable)


def _type_name(xsd_type: Any) -> str:
    qname = getattr(xsd_type, "qname", None)
    return qname.localname if qname is not None else type(xsd_type).__name__


def tree(port: Port, elements: list[tuple[str, Any]], indent: str = "  ") -> list[str]:
    """An operation's parameter tree for people: name, type, occurrence and the allowed codes."""
    lines: list[str] = []
    for name, element in elements:
        many = element.max_occurs == "unbounded" or (isinstance(element.max_occurs, int) and element.max_occurs > 1)
        occurs = f"{element.min_occurs}..{'*' if element.max_occurs == 'unbounded' else element.max_occurs}"
        flag = "required" if required(element) else "optional"
        kind = _type_name(element.type)
        codes = port.enumerations.get(getattr(getattr(element.type, "qname", None), "text", ""), [])
        line = f"{indent}{name}{'[]' if many else ''}: {kind} ({flag}, {occurs})"
        if codes:
            line += f" one of {' | '.join(codes)}"
        lines.append(line)
        lines += tree(port, children(element.type), indent + "  ")
    return lines


def _find(elements: list[tuple[str, Any]], path: list[str]) -> Any | None:
    name, *rest = path
    for child_name, element in elements:
        if child_name == name:
            return element if not rest else _find(children(element.type), rest)
    return None


def check_mapping(port: Port, where: str, operation: str, mapping: Mapping, sample: Any = None) -> list[str]:
    """What is wrong with a mapping against the operation's parameters.

    A field map is checked as written (every code of a code list against the enumeration); a
    template through what it renders for `sample` (the contract kit's sample case).
    """
    top = input_elements(port, operation)
    problems: list[str] = []
    if mapping.template is not None:
        return check_value(port, f"{where}.template", operation, top, sample, "")
    if not mapping.fields:
        return [f"{where}: required field '{n}' of {operation} is not mapped" for n, e in top if required(e)]
    targets = list(mapping.fields)
    for target, rule in mapping.fields.items():
        element = _find(top, target.split("."))
        path = f"{where}.fields.{target}"
        if element is None:
            known = ", ".join(n for n, _ in top)
            problems.append(f"{path}: {operation} has no field '{target}' (it takes: {known})")
            continue
        allowed = port.enumerations.get(getattr(getattr(element.type, "qname", None), "text", ""))
        if not allowed or not isinstance(rule, FieldRule):
            continue
        if rule.codes is not None:
            problems += [
                f"{path}: code '{code}' (for '{ours}' in code list '{rule.codes}') is not in the WSDL's "
                f"enumeration {' | '.join(allowed)}"
                for ours, code in mapping.codes[rule.codes].items()
                if code not in allowed
            ]
        elif rule.path is None and str(rule.value) not in allowed:
            problems.append(f"{path}: '{rule.value}' is not in the WSDL's enumeration {' | '.join(allowed)}")
    problems += _missing(top, targets, where, operation, "")
    return problems


def check_value(
    port: Port, where: str, operation: str, elements: list[tuple[str, Any]], value: Any, prefix: str
) -> list[str]:
    """What is wrong with a rendered value: unknown fields, required ones missing, codes outside enumerations."""
    if not isinstance(value, dict):
        return [f"{where}: renders {type(value).__name__}, not the fields of {operation}"] if not prefix else []
    known = dict(elements)
    problems = [
        f"{where}: {operation} has no field '{prefix}{key}' (it takes: {', '.join(known)})"
        for key in value
        if key not in known
    ]
    for name, element in elements:
        item = value.get(name)
        if item is None:
            if required(element):
                problems.append(f"{where}: required field '{prefix}{name}' of {operation} is not rendered")
            continue
        allowed = port.enumerations.get(getattr(getattr(element.type, "qname", None), "text", ""))
        for one in item if isinstance(item, list) else [item]:
            if allowed and not isinstance(one, dict | list) and str(one) not in allowed:
                problems.append(
                    f"{where}: '{one}' for '{prefix}{name}' is not in the WSDL's enumeration {' | '.join(allowed)}"
                )
            elif isinstance(one, dict):
                problems += check_value(port, where, operation, children(element.type), one, f"{prefix}{name}.")
    return problems


def _missing(elements: list[tuple[str, Any]], targets: list[str], where: str, operation: str, prefix: str) -> list[str]:
    """Required fields no target fills, inside every part of the tree the mapping writes into."""
    problems = []
    for name, element in elements:
        path = prefix + name
        whole = path in targets
        inside = [t for t in targets if t.startswith(path + ".")]
        if required(element) and not whole and not inside:
            problems.append(f"{where}.fields: required field '{path}' of {operation} is not mapped")
        elif inside and not whole:
            problems += _missing(children(element.type), targets, where, operation, path + ".")
    return problems


def check_codes(port: Port, where: str, operation: str, status_path: str, codes: dict[str, Any]) -> list[str]:
    """Status codes configured that the WSDL's enumeration for the status field does not have."""
    parts = status_path.split(".")
    if not all(p.isidentifier() for p in parts):
        return []
    element = _find(output_elements(port, operation), parts)
    if element is None:
        return []
    allowed = port.enumerations.get(getattr(getattr(element.type, "qname", None), "text", ""))
    if not allowed:
        return []
    return [
        f"{where}.codes: '{code}' is not in the WSDL's enumeration {' | '.join(allowed)}"
        for code in codes
        if code not in allowed
    ]
