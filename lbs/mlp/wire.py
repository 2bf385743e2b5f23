"""The client's side of the wire: write ``svc_init`` requests, read ``svc_result`` answers and pushed reports."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from lbs.mlp.codes import ResultCode
from lbs.mlp.coords import CoordError, format_ordinate, format_time, parse_ordinate, parse_time
from lbs.mlp.models import AreaTrigger, Circle, Position, PositionReport, Precision, Qos, ReportRequest
from lbs.mlp.xmlsafe import XmlRejected, parse_xml, text_of

MLP_VERSION = "3.5.0"
_DOCTYPE_INIT = '<!DOCTYPE svc_init SYSTEM "MLP_SVC_INIT_350.DTD">'


@dataclass(frozen=True, slots=True)
class Credentials:
    """What goes into ``<hdr><client>``: the LES account of this platform."""

    client_id: str
    pwd: str
    serviceid: str | None = None


@dataclass(frozen=True, slots=True)
class PushAddr:
    """What goes into ``<pushaddr>``: where the LES pushes reports, and the id/pwd it presents there (Basic auth)."""

    url: str
    id: str
    pwd: str


def _hdr(creds: Credentials, requestor: str | None) -> str:
    parts = [f"<id>{escape(creds.client_id)}</id>", f"<pwd>{escape(creds.pwd)}</pwd>"]
    if creds.serviceid:
        parts.append(f"<serviceid>{escape(creds.serviceid)}</serviceid>")
    req = f'<requestor type="MSISDN"><id>{escape(requestor)}</id></requestor>' if requestor else ""
    return f'<hdr ver="{MLP_VERSION}"><client>{"".join(parts)}</client>{req}</hdr>'


def _envelope(creds: Credentials, requestor: str | None, body: str) -> bytes:
    doc = (
        f'<?xml version="1.0" encoding="UTF-8"?>{_DOCTYPE_INIT}<svc_init ver="{MLP_VERSION}">'
        f"{_hdr(creds, requestor)}{body}</svc_init>"
    )
    return doc.encode("utf-8")


def _msid(msisdn: str) -> str:
    return f'<msid type="MSISDN" enc="ASC">{escape(msisdn)}</msid>'


def _eqop(qos: Qos) -> str:
    parts = []
    if qos.resp_req:
        parts.append(f'<resp_req type="{qos.resp_req}"/>')
    if qos.resp_timer_s is not None:
        parts.append(f"<resp_timer>{qos.resp_timer_s}</resp_timer>")
    if qos.hor_acc_m is not None:
        parts.append(f"<hor_acc>{qos.hor_acc_m}</hor_acc>")
    if qos.max_loc_age_s is not None:
        parts.append(f"<max_loc_age>{qos.max_loc_age_s}</max_loc_age>")
    return f"<eqop>{''.join(parts)}</eqop>" if parts else ""


_GEO_INFO = (
    "<geo_info><CoordinateReferenceSystem><Identifier><code>4326</code><codeSpace>EPSG</codeSpace>"
    "<edition>6.1</edition></Identifier></CoordinateReferenceSystem></geo_info>"
)


def _pushaddr(push: PushAddr) -> str:
    return f"<pushaddr><url>{escape(push.url)}</url><id>{escape(push.id)}</id><pwd>{escape(push.pwd)}</pwd></pushaddr>"


def build_slir(
    creds: Credentials, msisdns: list[str], *, requestor: str | None, qos: Qos, push: PushAddr | None = None
) -> bytes:
    """An SLIR for ``msisdns``; with ``push`` it is asynchronous (answer pushed as ``slirep``)."""
    res_type = "ASYNC" if push else "SYNC"
    body = (
        f'<slir ver="{MLP_VERSION}" res_type="{res_type}"><msids>{"".join(_msid(m) for m in msisdns)}</msids>'
        f'{_eqop(qos)}{_GEO_INFO}<loc_type type="{qos.loc_type}"/><prio type="{qos.prio}"/>'
        f"{_pushaddr(push) if push else ''}</slir>"
    )
    return _envelope(creds, requestor, body)


def _coord(lat: float, lon: float) -> str:
    return f"<coord><X>{format_ordinate(lat, 'lat')}</X><Y>{format_ordinate(lon, 'lon')}</Y></coord>"


def _area_xml(trigger: AreaTrigger) -> str:
    if isinstance(trigger.area, Circle):
        a = trigger.area
        shape = f'<CircularArea srsName="www.epsg.org#4326">{_coord(a.lat, a.lon)}<radius>{a.radius_m:g}</radius>'
        shape += "</CircularArea>"
    else:
        ring = "".join(_coord(lat, lon) for lat, lon in trigger.area.ring)
        shape = f'<Polygon srsName="www.epsg.org#4326"><outerBoundaryIs><LinearRing>{ring}</LinearRing>'
        shape += "</outerBoundaryIs></Polygon>"
    estimates = "TRUE" if trigger.loc_estimates else "FALSE"
    return (
        f'<tlrr_event><change_area type="{trigger.event}" loc_estimates="{estimates}">'
        f"<target_area><shape>{shape}</shape></target_area></change_area></tlrr_event>"
    )


def _time_el(tag: str, moment: datetime) -> str:
    text, off = format_time(moment)
    return f'<{tag} utc_off="{off}">{text}</{tag}>'


def build_tlrr(creds: Credentials, req: ReportRequest, push: PushAddr) -> bytes:
    """A triggered location reporting request; reports are pushed to ``push``."""
    msids = "".join(_msid(m) for m in req.msisdns)
    if req.msid_range:
        first, last = req.msid_range
        msids += f"<msid_range><start_msid>{_msid(first)}</start_msid><stop_msid>{_msid(last)}</stop_msid></msid_range>"
    parts = [f"<msids>{msids}</msids>"]
    if req.interval_s is not None:
        parts.append(f"<interval>{_duration(req.interval_s)}</interval>")
    if req.start_time:
        parts.append(_time_el("start_time", req.start_time))
    if req.stop_time:
        parts.append(_time_el("stop_time", req.stop_time))
    if req.duration_s is not None:
        parts.append(f"<duration>{_duration(req.duration_s)}</duration>")
    if req.ms_avail:
        parts.append('<tlrr_event><ms_action type="MS_AVAIL"/></tlrr_event>')
    if req.area:
        parts.append(_area_xml(req.area))
    if req.qos.hor_acc_m is not None:
        parts.append(f"<qop><hor_acc>{req.qos.hor_acc_m}</hor_acc></qop>")
    parts += [_GEO_INFO, _pushaddr(push), f'<loc_type type="{req.qos.loc_type}"/>']
    return _envelope(creds, req.requestor, f'<tlrr ver="{MLP_VERSION}">{"".join(parts)}</tlrr>')


def build_tlrsr(creds: Credentials, req_id: str) -> bytes:
    """A triggered location reporting stop request for ``req_id``."""
    return _envelope(creds, None, f'<tlrsr ver="{MLP_VERSION}"><req_id>{escape(req_id)}</req_id></tlrsr>')


def _duration(seconds: int) -> str:
    """MLP intervals are ``DDHHMMSS``."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"{days:02d}{hours:02d}{minutes:02d}{secs:02d}"


# --- reading answers --------------------------------------------------------------------------------------------


class WireError(ValueError):
    """An answer that is not a usable svc_result."""


@dataclass(frozen=True, slots=True)
class PosResult:
    """One ``<pos>``/``<trl_pos>``: a position or an error code."""

    msid: str
    position: Position | None
    result: ResultCode
    add_info: str | None = None
    trigger: str | None = None
    msid_type: str = "MSISDN"


@dataclass(frozen=True, slots=True)
class ServiceAnswer:
    """A parsed svc_result: the service element's name, its overall result, req_id and positions."""

    service: str
    result: ResultCode
    add_info: str | None
    req_id: str | None
    positions: tuple[PosResult, ...]


def parse_answer(body: bytes, *, coarse_from_m: float, max_bytes: int) -> ServiceAnswer:
    """Read any svc_result (slia, slirep, tlra, tlrep, tlrsa, gem) or raise :class:`WireError`."""
    try:
        root = parse_xml(body, max_bytes=max_bytes)
    except XmlRejected as exc:
        raise WireError(exc.reason) from None
    if root.tag != "svc_result" or len(root) == 0:
        raise WireError(f"expected svc_result, got {root.tag}")
    service = root[0]
    result_el = service.find("result")
    result = ResultCode.parse(result_el.get("resid")) if result_el is not None else ResultCode.OK
    positions = tuple(_pos(el, coarse_from_m) for el in service if el.tag in {"pos", "trl_pos"})
    return ServiceAnswer(service.tag, result, text_of(service, "add_info"), text_of(service, "req_id"), positions)


def _pos(el: ET.Element, coarse_from_m: float) -> PosResult:
    msid = text_of(el, "msid") or ""
    msid_el = el.find("msid")
    msid_type = msid_el.get("type", "MSISDN") if msid_el is not None else "MSISDN"
    trigger = el.get("trl_trigger")
    err = el.find("poserr")
    if err is not None:
        res = err.find("result")
        code = ResultCode.parse(res.get("resid") if res is not None else None)
        return PosResult(msid, None, code, text_of(err, "add_info"), trigger, msid_type)
    pd = el.find("pd")
    if pd is None:
        raise WireError(f"pos for {msid} has neither pd nor poserr")
    return PosResult(msid, parse_pd(pd, coarse_from_m), ResultCode.OK, None, trigger, msid_type)


def parse_pd(pd: ET.Element, coarse_from_m: float) -> Position:
    """A ``<pd>`` (Point or CircularArea in WGS84) as a :class:`Position`."""
    time_el = pd.find("time")
    shape = pd.find("shape")
    if time_el is None or time_el.text is None or shape is None or len(shape) == 0:
        raise WireError("pd without time or shape")
    geom = shape[0]
    try:
        lat = parse_ordinate(text_of(geom, "coord/X") or "", "lat")
        lon = parse_ordinate(text_of(geom, "coord/Y") or "", "lon")
        when = parse_time(time_el.text, time_el.get("utc_off"))
        radius = float(text_of(geom, "radius") or 0.0) if geom.tag == "CircularArea" else 0.0
    except (CoordError, ValueError) as exc:
        raise WireError(f"bad position: {exc}") from None
    if geom.tag not in {"Point", "CircularArea"}:
        raise WireError(f"unsupported shape {geom.tag}")
    if not (math.isfinite(radius) and radius >= 0):
        raise WireError(f"bad radius {radius}")
    precision: Precision = "coarse" if radius >= coarse_from_m else "exact"
    return Position(lat, lon, radius, when, text_of(pd, "pos_method") or "UNKNOWN", precision)


def reports_from(answer: ServiceAnswer) -> list[PositionReport]:
    """The pushed positions of a ``slirep``/``tlrep`` as :class:`PositionReport` values (MSISDNs in E.164)."""
    default = "SLIREP" if answer.service == "slirep" else "PERIODIC"
    return [
        PositionReport(answer.req_id or "", _e164(p.msid, p.msid_type), p.trigger or default, p.position, p.result)
        for p in answer.positions
    ]


def _e164(msid: str, msid_type: str) -> str:
    """MSISDNs come back without '+' (as we sent them); other identities (IMSI) are left as they are."""
    return f"+{msid}" if msid_type == "MSISDN" and msid.isdigit() else msid
