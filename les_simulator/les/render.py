"""Write ``svc_result`` documents: slia, slirep, tlra, tlrep, tlrsa and gem, in the version the client asked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from les_simulator.les.codes import ResultCode
from les_simulator.les.coords import CoordFormat, format_ordinate, format_time
from les_simulator.les.positioning import Fix

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE svc_result SYSTEM "MLP_SVC_RESULT_{v}.DTD">\n'


@dataclass(frozen=True, slots=True)
class PosOutcome:
    """One answered subscriber: the msid as the client wrote it, and a fix or an error."""

    msid: str
    msid_type: str
    fix: Fix | None = None
    code: ResultCode = ResultCode.OK
    add_info: str | None = None
    trigger: str | None = None  # trl_pos trl_trigger for tlrep


def _doc(ver: str, body: str) -> bytes:
    head = _HEAD.format(v=ver.replace(".", ""))
    return f'{head}<svc_result ver="{ver}">{body}</svc_result>'.encode()


def _result(code: ResultCode, add_info: str | None) -> str:
    info = f"<add_info>{escape(add_info)}</add_info>" if add_info else ""
    return f'<result resid="{int(code)}">{code.text}</result>{info}'


def _time(fix_time: str, off: str) -> str:
    return f'<time utc_off="{off}">{fix_time}</time>'


def _pd(fix: Fix, ver: str, fmt: CoordFormat) -> str:
    when, off = format_time(fix.time)
    coord = f"<coord><X>{format_ordinate(fix.lat, 'lat', fmt)}</X><Y>{format_ordinate(fix.lon, 'lon', fmt)}</Y></coord>"
    shape = f'<CircularArea srsName="www.epsg.org#4326">{coord}<radius>{fix.accuracy_m:g}</radius></CircularArea>'
    method = f"<pos_method>{fix.method}</pos_method>" if ver >= "3.2.0" else ""  # not in the 3.0/3.1 schemas
    return f"<pd>{_time(when, off)}<shape>{shape}</shape>{method}</pd>"


def pos_xml(out: PosOutcome, ver: str, fmt: CoordFormat, now_text: tuple[str, str], tag: str = "pos") -> str:
    """One ``<pos>`` (or ``<trl_pos>``) element."""
    attr = f' trl_trigger="{out.trigger}"' if tag == "trl_pos" and out.trigger else ""
    msid = f'<msid type="{escape(out.msid_type)}">{escape(out.msid)}</msid>'
    if out.fix is not None:
        return f"<{tag}{attr}>{msid}{_pd(out.fix, ver, fmt)}</{tag}>"
    err = f"<poserr>{_result(out.code, out.add_info)}{_time(*now_text)}</poserr>"
    return f"<{tag}{attr}>{msid}{err}</{tag}>"


def slia(ver: str, outcomes: Iterable[PosOutcome], fmt: CoordFormat, now_text: tuple[str, str]) -> bytes:
    """A synchronous SLIR answer: one pos per subscriber."""
    body = "".join(pos_xml(o, ver, fmt, now_text) for o in outcomes)
    return _doc(ver, f'<slia ver="{ver}">{body}</slia>')


def slia_req_id(ver: str, req_id: str) -> bytes:
    """An asynchronous SLIR's immediate answer: the req_id the slirep will carry."""
    return _doc(ver, f'<slia ver="{ver}"><req_id>{escape(req_id)}</req_id></slia>')


def error(ver: str, service: str, code: ResultCode, add_info: str | None) -> bytes:
    """A request-level error in the service's answer element (slia, tlra, tlrsa) or a gem."""
    return _doc(ver, f'<{service} ver="{ver}">{_result(code, add_info)}</{service}>')


def slirep(ver: str, req_id: str, outcomes: Iterable[PosOutcome], fmt: CoordFormat, now_text: tuple[str, str]) -> bytes:
    """The pushed answer of an asynchronous SLIR."""
    body = "".join(pos_xml(o, ver, fmt, now_text) for o in outcomes)
    return _doc(ver, f'<slirep ver="{ver}"><req_id>{escape(req_id)}</req_id>{body}</slirep>')


def tlra(ver: str, req_id: str) -> bytes:
    """A TLRR accepted: the req_id of the reports to come."""
    return _doc(ver, f'<tlra ver="{ver}"><req_id>{escape(req_id)}</req_id></tlra>')


def tlrep(ver: str, req_id: str, outcomes: Iterable[PosOutcome], fmt: CoordFormat, now_text: tuple[str, str]) -> bytes:
    """One pushed triggered report holding several trl_pos."""
    body = "".join(pos_xml(o, ver, fmt, now_text, "trl_pos") for o in outcomes)
    return _doc(ver, f'<tlrep ver="{ver}"><req_id>{escape(req_id)}</req_id>{body}</tlrep>')


def tlrsa(ver: str, req_id: str) -> bytes:
    """A TLRSR accepted."""
    return _doc(ver, f'<tlrsa ver="{ver}"><req_id>{escape(req_id)}</req_id></tlrsa>')
