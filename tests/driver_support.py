"""What the host drivers (``host_driver.py``, ``real_host_driver.py``) share. They run
as scripts with a host's own Python, and import this from their own folder."""

import time
from typing import Any


def until(what: str, probe: Any, timeout: float) -> Any:
    """``probe()``'s first true answer, polled for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = probe()
        if answer:
            return answer
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def finished(work: dict) -> dict | None:
    """An image's or a report's JSON once its work is over, else None."""
    return work if work["status"] in {"done", "failed"} else None
