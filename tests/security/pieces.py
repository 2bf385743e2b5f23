"""MLP documents written by hand, and HTTP requests whose bodies arrive in pieces over a real socket (as a real
LES's large pushes do)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from lbs.mlp.coords import format_time


def pos(msid: str, at: datetime, lat: float = 50.8467, lon: float = 4.3525) -> str:
    """One ``trl_pos`` with a decimal-degree point and a 20 m radius."""
    text, off = format_time(at)
    return (
        f'<trl_pos trl_trigger="PERIODIC"><msid>{msid}</msid><pd><time utc_off="{off}">{text}</time><shape>'
        f"<CircularArea><coord><X>{lat:.6f}N</X><Y>{lon:.6f}E</Y></coord><radius>20</radius></CircularArea>"
        "</shape><pos_method>GPS</pos_method></pd></trl_pos>"
    )


def tlrep(req_id: str, positions: list[str]) -> bytes:
    """A pushed ``tlrep`` document holding ``positions``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><svc_result ver="3.5.0"><tlrep ver="3.5.0">'
        f"<req_id>{req_id}</req_id>{''.join(positions)}</tlrep></svc_result>"
    ).encode()


def msisdns(count: int, first: int = 32470000100) -> list[str]:
    return [str(first + i) for i in range(count)]


def basic(user: str, pwd: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pwd}".encode()).decode()}


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def post_in_pieces(
    port: int,
    path: str,
    body: bytes,
    *,
    pieces: int = 2,
    pause_s: float = 0.5,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> Answer:
    """POST ``body`` over a raw socket in ``pieces`` writes ``pause_s`` apart (Content-Length, or chunked)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: text/xml", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    size = -(-len(body) // pieces)
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
        await writer.drain()
        await asyncio.sleep(pause_s)
    if chunked:
        writer.write(b"0\r\n\r\n")
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    got = dict(line.split(": ", 1) for line in header_lines)
    if got.get("Transfer-Encoding") == "chunked":
        rest = _dechunk(rest)
    return Answer(int(status_line.split()[1]), got, rest)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out
