"""The README's quick start, run as printed on a fresh clone: ``make run`` brings up web,
workers, beat and Flower on the embedded defaults with nothing installed by hand, serves
a healthy site, and stops on Ctrl-C in its terminal, quietly, with status 0 and nothing
left behind. (``make test``, the block's
other line, is the suite running this very test.)"""

import fcntl
import os
import pty
import re
import subprocess
import termios
import urllib.error
import urllib.request

import pytest

from tests.redis_server import free_port
from tests.workers import ROOT
from tools.workers import wait_for

pytestmark = pytest.mark.integration

QUICKSTART = re.compile(r"<!-- quickstart -->\n```sh\n(?P<code>.*?)```", re.S)
#: What ``make run`` gives its processes to stop before it SIGKILLs them (project/run.py).
GRACE = 30


def quickstart_commands() -> list[str]:
    code = QUICKSTART.search((ROOT / "README.md").read_text())["code"]
    return [line.split("#")[0].strip() for line in code.strip().splitlines()]


def status(url: str, **headers: str) -> int:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def controlling_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is its stdin."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_make_run_from_a_fresh_clone_serves_and_stops_on_ctrl_c(tmp_path):
    assert quickstart_commands() == ["make run", "make test"]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    web, flower = free_port(), free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CELERY_", "DJANGO_", "TASKHUB_", "FLOWER_"))
        and name not in ("DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH")
    }
    env |= {"WEB_PORT": str(web), "FLOWER_PORT": str(flower)}
    output = tmp_path / "make-run.log"
    terminal, terminal_side = pty.openpty()  # make runs in a terminal, as a person runs it
    with output.open("wb") as out:
        make = subprocess.Popen(
            ["make", "run"], cwd=clone, env=env, stdin=terminal_side, stdout=out,
            stderr=subprocess.STDOUT, preexec_fn=controlling_terminal,
        )  # fmt: skip
    os.close(terminal_side)
    try:
        wait_for(
            lambda: status(f"http://127.0.0.1:{web}/health/") == 200 or make.poll() is not None,
            600,
            "make run to serve a healthy site",
        )
        assert make.poll() is None, output.read_text()
        assert status(f"http://127.0.0.1:{flower}/") == 401, "Flower asks for a password"
        assert not (clone / ".venv" / "bin" / "pytest").exists(), "run installs what runs only"
        os.write(terminal, b"\x03")  # Ctrl-C: the terminal signals its foreground group
        make.wait(timeout=GRACE + 25)
    finally:
        if make.poll() is None:
            subprocess.run(["pkill", "-KILL", "-s", str(make.pid)], check=False)
            make.wait()
        os.close(terminal)
    log = output.read_text(errors="replace")
    assert make.returncode == 0, f"Ctrl-C is how it stops, not a failure:\n{log[-3000:]}"
    assert "Interrupt" not in log and "make: ***" not in log, log[-3000:]
    python = re.search(r"\((\S+) manage\.py createsuperuser\)", log)
    assert python and (clone / python[1]).is_file(), "the banner's command runs as printed"
    assert "SIGKILL" not in log, f"every process stops by itself:\n{log[-3000:]}"
    for process in ("web", "worker-high", "worker-default", "beat", "flower"):
        assert re.search(rf"{process}\.1 +stopped", log), f"{process} did not stop:\n{log[-3000:]}"
    leftovers = subprocess.run(["pgrep", "-s", str(make.pid)], capture_output=True, text=True)
    assert leftovers.stdout == "", "every process of make run is gone"
