"""An SMTP server on loopback that answers each message 250 OK after 50 ms, like a
nearby relay, and counts what it received (aiosmtpd, in a thread)."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller

from benchmarks import harness

DELAY = 0.05


class SlowSink:
    def __init__(self) -> None:
        self.received = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(DELAY)
        with self.lock:
            self.received += 1
        return "250 OK"


@contextmanager
def running_sink() -> Iterator[tuple[SlowSink, int]]:
    """The sink and its port, for as long as the block runs."""
    port = harness.free_port()
    sink = SlowSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()
