"""Fixtures for the SMSC emulator: a started emulator on a free port, real aiosmpplib ESMEs, raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiosmpplib import ESME, AbstractHook, BindMode, DeliverSm, SmppMessage
from aiosmpplib.retrytimer import SimpleExponentialBackoff

from les_simulator.settings import SmscSettings
from les_simulator.smsc import SmscEmulator, create_smsc_control_app

ACCOUNTS = {"demo": "demo", "other": "secret"}
ROUTES = {"3311": "demo", "4422": "other", "+3225550100": "demo"}  # a long number routes too


class RecordingHook(AbstractHook):  # type: ignore[misc]
    """Keeps everything an ESME receives, and its send errors."""

    def __init__(self) -> None:
        self.messages: list[SmppMessage] = []
        self.errors: list[Exception] = []
        self.changed = asyncio.Event()

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        if smpp_message is not None:
            self.messages.append(smpp_message)
            self.changed.set()

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        self.errors.append(error)
        self.changed.set()

    def of(self, cls: type[SmppMessage]) -> list[Any]:
        return [message for message in self.messages if type(message) is cls]

    def deliver_sms(self) -> list[DeliverSm]:
        # isinstance: the platform replaces the library's DeliverSm class process-wide (lbs.messaging.smpp)
        return [m for m in self.messages if isinstance(m, DeliverSm)]

    def receipts(self) -> list[DeliverSm]:
        return [m for m in self.deliver_sms() if m.is_receipt()]

    def mos(self) -> list[DeliverSm]:
        return [m for m in self.deliver_sms() if not m.is_receipt()]

    async def wait(self, predicate: Callable[[], bool], within_s: float = 5.0) -> None:
        async with asyncio.timeout(within_s):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def eventually(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    """Poll ``predicate`` until it holds."""
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 - the state polled lives in the emulator, no event to wait on
            await asyncio.sleep(0.01)


@pytest.fixture
def smsc_settings() -> SmscSettings:
    return SmscSettings(
        smsc_host="127.0.0.1",
        smsc_port=0,
        smsc_accounts=ACCOUNTS,
        smsc_routes=ROUTES,
        smsc_dlr_delay_s=0.01,
        smsc_retry_s=0.05,
        smsc_response_timeout_s=2.0,
    )


@pytest.fixture
async def smsc(smsc_settings: SmscSettings) -> AsyncIterator[SmscEmulator]:
    emulator = SmscEmulator(smsc_settings)
    await emulator.start(port=0)
    yield emulator
    await emulator.stop()


@pytest.fixture
async def control(smsc: SmscEmulator, aiohttp_client: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(create_smsc_control_app(smsc))
    return client


class ClosingEsme(ESME):  # type: ignore[misc]
    """aiosmpplib 0.7.4 drops its StreamWriter without closing it (on stop and on every reconnect), which
    leaks the transport and raises ResourceWarning at GC; close the old writer each time."""

    async def connect(self) -> None:
        if self._writer is not None:
            self._writer.close()
        await super().connect()

    async def _disconnect(self) -> None:
        writer = self._writer
        await super()._disconnect()
        if writer is not None:
            writer.close()

    def close_transport(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def fast_stop(client: ESME, task: asyncio.Task[None]) -> None:
    """Stop an ESME now. ``stop()`` (and a cancel of ``start()``) gives each of its inner tasks 0.5 s to end
    by itself, ~1 s per ESME; cancel those tasks first, then ``start()``."""
    for inner in asyncio.all_tasks():
        frame = getattr(inner.get_coro(), "cr_frame", None)
        if inner is not task and frame is not None and frame.f_locals.get("self") is client:
            inner.cancel()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


EsmeFactory = Callable[..., Awaitable[tuple[ESME, RecordingHook]]]


@pytest.fixture
async def esme(smsc: SmscEmulator) -> AsyncIterator[EsmeFactory]:
    """Start real aiosmpplib ESMEs against the emulator; each is bound when returned, stopped afterwards."""
    started: list[tuple[ClosingEsme, asyncio.Task[None]]] = []

    async def start(
        system_id: str = "demo", password: str = "demo", bind_mode: BindMode = BindMode.TRANSCEIVER, **kw: Any
    ) -> tuple[ESME, RecordingHook]:
        hook = RecordingHook()
        client = ClosingEsme(
            "127.0.0.1",
            smsc.port,
            system_id,
            password,
            bind_mode=bind_mode,
            hook=hook,
            log_level=logging.CRITICAL,
            socket_timeout=5.0,
            enquire_link_interval=30.0,
            retry_timer=SimpleExponentialBackoff(min_delay=50, max_increases=1),
            client_id=f"{system_id}-{len(started)}",
            **kw,
        )
        task = asyncio.create_task(client.start())
        started.append((client, task))
        await eventually(lambda: any(s.system_id == system_id for s in smsc.binds()) or task.done())
        return client, hook

    yield start
    await asyncio.gather(*(fast_stop(client, task) for client, task in started))
    for client, _ in started:
        client.close_transport()


class RawClient:
    """A bare SMPP socket for what a well-behaved ESME would never send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_pdu(self, within_s: float = 3.0) -> bytes:
        async with asyncio.timeout(within_s):
            header = await self.reader.readexactly(16)
            length = struct.unpack("!I", header[:4])[0]
            return header + await self.reader.readexactly(length - 16)

    async def closed(self, within_s: float = 3.0) -> bool:
        async with asyncio.timeout(within_s):
            return await self.reader.read(1) == b""

    def close(self) -> None:
        self.writer.close()


RawFactory = Callable[[], Awaitable[RawClient]]


@pytest.fixture
async def raw(smsc: SmscEmulator) -> AsyncIterator[RawFactory]:
    clients: list[RawClient] = []

    async def connect() -> RawClient:
        client = RawClient(*await asyncio.open_connection("127.0.0.1", smsc.port))
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()
        with contextlib.suppress(Exception):
            await client.writer.wait_closed()


def header(command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> bytes:
    """A PDU from its parts."""
    return struct.pack("!IIII", 16 + len(body), command_id, status, sequence) + body


def parse_header(pdu: bytes) -> tuple[int, int, int, int]:
    """length, command_id, status, sequence."""
    return struct.unpack("!IIII", pdu[:16])


def bind_pdu(system_id: str = "demo", password: str = "demo", command_id: int = 0x09, sequence: int = 1) -> bytes:
    """A bind request (transceiver by default) as raw bytes."""
    body = system_id.encode() + b"\x00" + password.encode() + b"\x00" + b"\x00" + bytes([0x34, 0, 0]) + b"\x00"
    return header(command_id, sequence, body)


@pytest.fixture
async def bound_raw(raw: RawFactory) -> RawClient:
    """A raw socket already bound as transceiver ``demo``."""
    client = await raw()
    await client.send(bind_pdu())
    response = await client.read_pdu()
    assert parse_header(response)[1:3] == (0x80000009, 0)
    return client


def tlv(tag: int, value: bytes) -> bytes:
    """One optional parameter."""
    return struct.pack("!HH", tag, len(value)) + value


def submit_sm_pdu(
    short_message: bytes,
    *,
    sequence: int = 1,
    data_coding: int = 0,
    esm_class: int = 0,
    source: str = "3311",
    destination: str = "32470000001",
    registered_delivery: int = 1,
    tlvs: bytes = b"",
) -> bytes:
    """A submit_sm built by hand (independently of the emulator's codec)."""
    body = b"\x00" + bytes([3, 0]) + source.encode() + b"\x00" + bytes([1, 1]) + destination.encode() + b"\x00"
    body += bytes([esm_class, 0, 0]) + b"\x00\x00" + bytes([registered_delivery, 0, data_coding, 0])
    body += bytes([len(short_message)]) + short_message + tlvs
    return header(0x04, sequence, body)
