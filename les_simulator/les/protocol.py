"""The emulator's side of the wire: read ``svc_init`` documents into typed requests.

Every problem becomes a :class:`MlpFault` carrying the spec's result code and ADD_INFO; the handler answers
it in the service's own answer element (slia, tlra, tlrsa) or, when no service could be read, in a ``gem``.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from les_simulator.les.codes import ResultCode
from les_simulator.les.coords import CoordError, parse_ordinate, parse_time
from les_simulator.les.xmlsafe import text_of

SUPPORTED_VERSIONS = ("3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0")
SUPPORTED_SERVICES = ("slir", "tlrr", "tlrsr")
KNOWN_SERVICES = (*SUPPORTED_SERVICES, "eme_lir", "slrr", "ssrr", "lsrr", "gem")
SUPPORTED_MSID_TYPES = ("MSISDN", "IMSI")

# Child elements each request element may hold (MLP 3.5 request vocabulary, svc_init side).
_SHAPES = {
    "Point",
    "LineString",
    "Polygon",
    "Box",
    "CircularArea",
    "CircularArcArea",
    "EllipticalArea",
    "MultiLineString",
    "MultiPoint",
    "MultiPolygon",
}
VOCABULARY: dict[str, set[str]] = {
    "svc_init": {"hdr", *KNOWN_SERVICES},
    "hdr": {"client", "sessionid", "subclient", "requestor"},
    "client": {"id", "pwd", "serviceid", "requestmode"},
    "subclient": {"id", "pwd", "serviceid"},
    "requestor": {"id", "serviceid"},
    "slir": {
        "msids",
        "msid",
        "codeword",
        "gsm_net_param",
        "eqop",
        "geo_info",
        "loc_type",
        "prio",
        "pushaddr",
        "service_coverage",
    },
    "tlrr": {
        "msids",
        "interval",
        "start_time",
        "stop_time",
        "duration",
        "tlrr_event",
        "qop",
        "geo_info",
        "pushaddr",
        "loc_type",
        "prio",
        "service_coverage",
    },
    "tlrsr": {"req_id", "msids"},
    "msids": {"msid", "codeword", "session", "msid_range", "trans_id"},
    "msid_range": {"start_msid", "stop_msid"},
    "start_msid": {"msid"},
    "stop_msid": {"msid"},
    "gsm_net_param": {"cgi", "neid", "nmr", "ta", "lmsi", "imsi"},
    "cgi": {"mcc", "mnc", "lac", "cellid"},
    "eqop": {"resp_req", "resp_timer", "ll_acc", "hor_acc", "alt_acc", "max_loc_age"},
    "qop": {"ll_acc", "hor_acc", "alt_acc", "max_loc_age"},
    "geo_info": {"CoordinateReferenceSystem"},
    "CoordinateReferenceSystem": {"Identifier"},
    "Identifier": {"code", "codeSpace", "edition"},
    "pushaddr": {"url", "id", "pwd"},
    "tlrr_event": {"ms_action", "change_area"},
    "change_area": {"target_area", "no_of_reports"},
    "target_area": {"shape", "cc", "plmn", "name_area"},
    "shape": _SHAPES,
    "Point": {"coord"},
    "Box": {"coord"},
    "LineString": {"coord"},
    "LinearRing": {"coord"},
    "Polygon": {"outerBoundaryIs", "innerBoundaryIs"},
    "outerBoundaryIs": {"LinearRing"},
    "innerBoundaryIs": {"LinearRing"},
    "CircularArea": {"coord", "radius", "distanceUnit"},
    "CircularArcArea": {"coord", "inRadius", "outRadius", "startAngle", "stopAngle", "angularUnit", "distanceUnit"},
    "EllipticalArea": {"coord", "angle", "semiMajor", "semiMinor", "angularUnit", "distanceUnit"},
    "MultiPoint": {"Point"},
    "MultiLineString": {"LineString"},
    "MultiPolygon": {"Polygon", "Box", "CircularArea", "CircularArcArea", "EllipticalArea"},
    "coord": {"X", "Y", "Z"},
}
_DURATION = re.compile(r"^(\d{2})(\d{2})(\d{2})(\d{2})$")


class MlpFault(Exception):
    """A request the LES answers with an error result instead of positions."""

    def __init__(self, code: ResultCode, add_info: str, service: str = "gem") -> None:
        super().__init__(add_info)
        self.code = code
        self.add_info = add_info
        self.service = service


@dataclass(frozen=True, slots=True)
class Header:
    """``<hdr>``: the client's credentials and the requestor (the person asking, if any)."""

    client_id: str
    pwd: str
    serviceid: str | None
    requestor: str | None
    sessionid: str | None


@dataclass(frozen=True, slots=True)
class Target:
    """One subscriber named in a request, as written (``value``) with its MLP ``type`` and ``enc``."""

    value: str
    type: str = "MSISDN"
    enc: str = "ASC"


@dataclass(frozen=True, slots=True)
class Area:
    """A change-of-area target: a circle (centre, radius) or a polygon ring of (lat, lon)."""

    event: str  # MS_ENTERING, MS_LEAVING, MS_WITHIN_AREA
    centre: tuple[float, float] | None = None
    radius_m: float = 0.0
    ring: tuple[tuple[float, float], ...] = ()
    max_reports: int | None = None


@dataclass(slots=True)
class LocationRequest:
    """An SLIR or a TLRR, as far as the emulator honours them."""

    service: str
    ver: str
    header: Header
    targets: list[Target] = field(default_factory=list)
    hor_acc: float | None = None
    max_loc_age: float | None = None
    resp_timer: float | None = None
    resp_req: str | None = None
    loc_type: str = "CURRENT"
    prio: str = "NORMAL"
    res_type: str = "SYNC"
    push_url: str | None = None
    push_credentials: tuple[str, str] | None = None
    interval_s: int | None = None
    start_time: datetime | None = None
    stop_time: datetime | None = None
    duration_s: int | None = None
    ms_avail: bool = False
    area: Area | None = None


@dataclass(frozen=True, slots=True)
class StopRequest:
    """A TLRSR: stop the triggered reporting ``req_id``."""

    ver: str
    header: Header
    req_id: str


def read_request(root: ET.Element, *, max_msids: int) -> LocationRequest | StopRequest:
    """Turn a parsed ``svc_init`` into a request, or raise :class:`MlpFault`."""
    if root.tag != "svc_init":
        raise MlpFault(ResultCode.SYNTAX_ERROR, f"root element must be svc_init, not {root.tag}")
    ver = _version(root.get("ver"))
    service = _service_element(root)
    check_vocabulary(root, service.tag)
    header = _header(root.find("hdr"), service.tag)
    if service.tag == "tlrsr":
        return StopRequest(ver, header, _required(service, "req_id", "tlrsr"))
    req = LocationRequest(service.tag, ver, header)
    req.targets = _targets(service, max_msids)
    _options(service, req)
    if service.tag == "tlrr":
        _trigger(service, req)
    return req


def _version(ver: str | None) -> str:
    if ver is None:
        return "3.0.0"
    if ver not in SUPPORTED_VERSIONS:
        raise MlpFault(ResultCode.UNSUPPORTED_VERSION, f"ver {ver}; supported 3.0.0 to 3.5.0")
    return ver


def _service_element(root: ET.Element) -> ET.Element:
    services = [el for el in root if el.tag != "hdr"]
    if len(services) != 1:
        raise MlpFault(ResultCode.SYNTAX_ERROR, "svc_init must hold one hdr and exactly one request")
    service = services[0]
    if service.tag not in KNOWN_SERVICES:
        raise MlpFault(ResultCode.PROTOCOL_ELEMENT_NOT_SUPPORTED, service.tag)
    if service.tag not in SUPPORTED_SERVICES:
        raise MlpFault(ResultCode.SERVICE_NOT_SUPPORTED, service.tag)
    return service


def check_vocabulary(root: ET.Element, service: str) -> None:
    """Every element must be one the spec allows at its place: unknown ones get PROTOCOL ELEMENT NOT SUPPORTED."""
    stack = [root]
    while stack:
        node = stack.pop()
        allowed = VOCABULARY.get(node.tag, set())
        for child in node:
            if child.tag not in allowed:
                raise MlpFault(ResultCode.PROTOCOL_ELEMENT_NOT_SUPPORTED, f"{child.tag} in {node.tag}", _ans(service))
            stack.append(child)


def _ans(service: str) -> str:
    return {"slir": "slia", "tlrr": "tlra", "tlrsr": "tlrsa"}.get(service, "gem")


def _required(parent: ET.Element, path: str, service: str) -> str:
    value = text_of(parent, path)
    if not value:
        raise MlpFault(ResultCode.SYNTAX_ERROR, f"missing {path}", _ans(service))
    return value


def _header(hdr: ET.Element | None, service: str) -> Header:
    if hdr is None:
        raise MlpFault(ResultCode.SYNTAX_ERROR, "missing hdr", _ans(service))
    return Header(
        client_id=text_of(hdr, "client/id") or "",
        pwd=text_of(hdr, "client/pwd") or "",
        serviceid=text_of(hdr, "client/serviceid"),
        requestor=text_of(hdr, "requestor/id"),
        sessionid=text_of(hdr, "sessionid"),
    )


def _target(el: ET.Element) -> Target:
    return Target((el.text or "").strip(), el.get("type", "MSISDN"), el.get("enc", "ASC"))


def _targets(service: ET.Element, max_msids: int) -> list[Target]:
    targets = [_target(el) for el in service.findall("msid")]
    msids = service.find("msids")
    for el in msids if msids is not None else []:
        if el.tag == "msid":
            targets.append(_target(el))
        elif el.tag == "msid_range":
            targets.extend(_expand_range(el, max_msids - len(targets), service.tag))
        if len(targets) > max_msids:
            raise MlpFault(ResultCode.TOO_MANY_POSITION_ITEMS, f"more than {max_msids} msids", _ans(service.tag))
    if not targets:
        raise MlpFault(ResultCode.SYNTAX_ERROR, "no msid", _ans(service.tag))
    return targets


def _expand_range(el: ET.Element, room: int, service: str) -> list[Target]:
    start, stop = el.find("start_msid/msid"), el.find("stop_msid/msid")
    if start is None or stop is None:
        raise MlpFault(ResultCode.SYNTAX_ERROR, "msid_range needs start_msid and stop_msid", _ans(service))
    first, last = _target(start), _target(stop)
    a, b = first.value.lstrip("+"), last.value.lstrip("+")
    if not (a.isdigit() and b.isdigit()) or int(b) < int(a) or first.type != last.type:
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, "msid_range", _ans(service))
    count = int(b) - int(a) + 1
    if count > room:
        raise MlpFault(ResultCode.TOO_MANY_POSITION_ITEMS, f"msid_range of {count}", _ans(service))
    prefix = "+" if first.value.startswith("+") else ""
    width = len(a)
    return [Target(f"{prefix}{n:0{width}d}", first.type, first.enc) for n in range(int(a), int(b) + 1)]


def _number(service: ET.Element, path: str) -> float | None:
    text = text_of(service, path)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, path.rsplit("/", 1)[-1], _ans(service.tag)) from None
    if value < 0 or not math.isfinite(value):
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, path.rsplit("/", 1)[-1], _ans(service.tag))
    return value


def _attr(service: ET.Element, path: str, default: str, allowed: tuple[str, ...]) -> str:
    el = service.find(path)
    value = default if el is None else el.get("type", default)
    if value not in allowed:
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_ATTRIBUTE_VALUE, f"{path} type {value}", _ans(service.tag))
    return value


def _options(service: ET.Element, req: LocationRequest) -> None:
    qop = "eqop" if service.tag == "slir" else "qop"
    req.hor_acc = _number(service, f"{qop}/hor_acc")
    req.max_loc_age = _number(service, f"{qop}/max_loc_age")
    req.resp_timer = _number(service, "eqop/resp_timer")
    if service.find("eqop/resp_req") is not None:
        req.resp_req = _attr(service, "eqop/resp_req", "DELAY_TOL", ("NO_DELAY", "LOW_DELAY", "DELAY_TOL"))
    req.loc_type = _attr(service, "loc_type", "CURRENT", ("CURRENT", "LAST", "CURRENT_OR_LAST", "INITIAL"))
    req.prio = _attr(service, "prio", "NORMAL", ("NORMAL", "HIGH"))
    req.res_type = service.get("res_type", "SYNC")
    if req.res_type not in ("SYNC", "ASYNC"):
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_ATTRIBUTE_VALUE, "res_type", _ans(service.tag))
    _geo_info(service)
    req.push_url = text_of(service, "pushaddr/url")
    if service.find("pushaddr/id") is not None:
        req.push_credentials = (text_of(service, "pushaddr/id") or "", text_of(service, "pushaddr/pwd") or "")


def _geo_info(service: ET.Element) -> None:
    code = text_of(service, "geo_info/CoordinateReferenceSystem/Identifier/code")
    space = text_of(service, "geo_info/CoordinateReferenceSystem/Identifier/codeSpace")
    if code is not None and (code != "4326" or (space or "EPSG").upper() != "EPSG"):
        raise MlpFault(
            ResultCode.PROTOCOL_ELEMENT_VALUE_NOT_SUPPORTED,
            f"geo_info {space}:{code}; only EPSG:4326",
            _ans(service.tag),
        )


def duration_s(text: str) -> int:
    """MLP ``DDHHMMSS`` as seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(text)
    d, h, mi, s = (int(g) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _trigger(service: ET.Element, req: LocationRequest) -> None:
    try:
        for tag in ("interval", "duration"):
            text = text_of(service, tag)
            if text is not None:
                setattr(req, f"{tag}_s" if tag == "duration" else "interval_s", duration_s(text))
        for tag in ("start_time", "stop_time"):
            el = service.find(tag)
            if el is not None and el.text:
                setattr(req, tag, parse_time(el.text, el.get("utc_off")))
    except (ValueError, CoordError) as exc:
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, f"time or interval: {exc}", "tlra") from None
    if req.interval_s == 0:
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, "interval 0", "tlra")
    action = service.find("tlrr_event/ms_action")
    req.ms_avail = action is not None and action.get("type") == "MS_AVAIL"
    change = service.find("tlrr_event/change_area")
    if change is not None:
        req.area = _area(change)
    if req.interval_s is None and not req.ms_avail and req.area is None:
        raise MlpFault(ResultCode.SYNTAX_ERROR, "tlrr needs interval or tlrr_event", "tlra")
    if not req.push_url:
        raise MlpFault(ResultCode.SYNTAX_ERROR, "tlrr needs pushaddr", "tlra")


def _area(change: ET.Element) -> Area:
    event = change.get("type", "")
    if event not in ("MS_ENTERING", "MS_LEAVING", "MS_WITHIN_AREA"):
        raise MlpFault(ResultCode.PROTOCOL_ELEMENT_ATTRIBUTE_VALUE_NOT_SUPPORTED, f"change_area type {event}", "tlra")
    shape = change.find("target_area/shape")
    if shape is None or len(shape) == 0:
        raise MlpFault(ResultCode.PROTOCOL_ELEMENT_NOT_SUPPORTED, "target_area other than shape", "tlra")
    limit = text_of(change, "no_of_reports")
    geom = shape[0]
    try:
        max_reports = int(limit) if limit else None
        if geom.tag == "CircularArea":
            centre = _coord(geom.find("coord"))
            radius = float(text_of(geom, "radius") or "0")
            if not (math.isfinite(radius) and radius > 0):
                raise ValueError(f"radius {radius}")
            return Area(event, centre=centre, radius_m=radius, max_reports=max_reports)
        if geom.tag == "Polygon":
            ring = tuple(_coord(c) for c in geom.findall("outerBoundaryIs/LinearRing/coord"))
            if len(ring) < 3:
                raise ValueError("a polygon needs at least 3 coords")
            return Area(event, ring=ring, max_reports=max_reports)
    except (ValueError, CoordError) as exc:
        raise MlpFault(ResultCode.INVALID_PROTOCOL_ELEMENT_VALUE, f"target_area: {exc}", "tlra") from None
    raise MlpFault(ResultCode.PROTOCOL_ELEMENT_VALUE_NOT_SUPPORTED, f"target_area shape {geom.tag}", "tlra")


def _coord(el: ET.Element | None) -> tuple[float, float]:
    if el is None:
        raise ValueError("missing coord")
    return parse_ordinate(text_of(el, "X") or "", "lat"), parse_ordinate(text_of(el, "Y") or "", "lon")
