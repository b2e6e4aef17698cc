"""Host projects for taskhub's wheel: a virtualenv of their own, set up by following the
tutorial (``docs/tutorial.md``), then "Add your own report kinds", block by block.

A block is marked ``<!-- host: TARGET -->`` or ``<!-- host: TARGET only-if: TRAIT -->``;
TARGET is ``shell`` or a path of the pages' ``mysite`` project, which each host maps
to its own package (and its own Celery module). A block marked ``only-if`` applies only
to a host with that trait: ``no-broker``, ``no-email``, ``no-media``, ``no-auth`` or
``beat``.
"""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from tests.workers import ROOT
from tools.workers import Worker, celery_worker

GUIDE_PACKAGE = "mysite"
GUIDE_BROKER = "redis://127.0.0.1:6379/0"
#: The pages whose marked blocks set a host up, in order.
GUIDE = (ROOT / "docs" / "tutorial.md", ROOT / "docs" / "howto" / "report-kinds.md")
BLOCK = re.compile(
    r"<!-- host: (?P<target>\S+)(?: only-if: (?P<trait>\S+))? -->\n```\w*\n(?P<code>.*?)```", re.S
)
APPENDED = ("settings.py", "urls.py")
TEMPLATES = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Block:
    target: str  # "shell" or a path in the pages' project
    code: str


def guide_blocks(traits: Iterable[str]) -> list[Block]:
    """The guide's blocks, in order, that apply to a host with ``traits``."""
    text = "\n".join(page.read_text() for page in GUIDE)
    return [
        Block(m["target"], m["code"])
        for m in BLOCK.finditer(text)
        if m["trait"] is None or m["trait"] in set(traits)
    ]


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def build_wheel(out: Path) -> Path:
    """sdist, then the wheel from it: what a release builds, and nothing left in ROOT."""
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], out, dict(os.environ))
    [built] = out.glob("taskhub-*.whl")
    return built


def make_venv(python: str, path: Path) -> Path:
    run([python, "-m", "venv", str(path)], path.parent, dict(os.environ))
    return path


def write_pins(path: Path, django: str) -> Path:
    """The demo's pinned versions as pip constraints (which take no extras), Django's
    replaced by ``django``: the host gets the versions CI tests, from pip's cache."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pins = [re.sub(r"\[.*?\]", "", line) for line in lines if not line.startswith("Django==")]
    path.write_text("\n".join([*pins, f"Django=={django}"]) + "\n")
    return path


def insert_after_anchors(host_code: str, guide_code: str) -> str:
    """``host_code`` with each of ``guide_code``'s taskhub lines inserted after the line
    it follows in ``guide_code`` (blank lines skipped): "open the one you have and add
    the line right after ``config_from_object``"."""
    lines = host_code.splitlines()
    anchor = ""
    for line in guide_code.splitlines():
        if "taskhub" not in line:
            anchor = line or anchor
            continue
        assert anchor in lines, f"the host's file has no line {anchor!r} to add {line!r} after"
        lines.insert(lines.index(anchor) + 1, line)
        anchor = line
    return "\n".join(lines) + "\n"


class Host:
    """A project in ``root``, its package ``package`` (the pages' ``mysite``), its
    Celery app in ``<package>/<celery_module>.py``, with its own virtualenv."""

    def __init__(
        self,
        root: Path,
        venv: Path,
        package: str,
        *,
        pins: Path,
        redis_url: str = GUIDE_BROKER,
        celery_module: str = "celery",
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.bin = venv / "bin"
        self.package = package
        self.pins = pins
        self.redis_url = redis_url
        self.celery_module = celery_module
        self.env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", str(root)),
            "LANG": "C.UTF-8",
            **(env or {}),
        }
        self.workers: list[str] = []

    @property
    def python(self) -> str:
        return str(self.bin / "python")

    def ours(self, text: str) -> str:
        """The pages' ``mysite`` as this host's package."""
        return re.sub(rf"\b{GUIDE_PACKAGE}\b", self.package, text)

    def path(self, target: str) -> Path:
        path = self.root / self.ours(target)
        if path.name == "celery.py" and path.parent.name == self.package:
            return path.with_name(f"{self.celery_module}.py")
        return path

    def apply_all(self, blocks: Iterable[Block], wheel: Path) -> None:
        for block in blocks:
            self.apply(block, wheel)

    def apply(self, block: Block, wheel: Path) -> None:
        code = self.ours(block.code.replace(GUIDE_BROKER, self.redis_url))
        if block.target == "shell":
            self.run_shell(code, wheel)
        else:
            self.edit(self.path(block.target), code)

    def edit(self, path: Path, code: str) -> None:
        """Settings and URLs are appended to; a Celery module the host already has gets
        taskhub's lines; a package ``__init__`` that already loads the host's Celery app is
        left as it is; any other file is written."""
        existing = path.read_text() if path.exists() else ""
        if path.name in APPENDED:
            path.write_text(existing + "\n" + code)
        elif path.stem == self.celery_module and "config_from_object" in existing:
            path.write_text(insert_after_anchors(existing, code))
        elif path.name == "__init__.py" and self.celery_module in existing:
            return
        else:
            path.write_text(code)

    def run_shell(self, code: str, wheel: Path) -> None:
        """``pip install`` installs the wheel (extras kept) within the pins; ``python``
        runs with the host's; a worker command is kept for the test to start."""
        for line in code.strip().splitlines():
            if line.startswith("celery ") and " worker " in line:
                self.workers.append(line)
            elif line.startswith("pip install "):
                spec = line.split(" ", 2)[2].strip('"').replace("taskhub", str(wheel), 1)
                self.pip(spec)
            elif line.startswith("python "):
                run([self.python, *line.split()[1:]], self.root, self.env)

    def pip(self, *specs: str) -> None:
        pip = [self.python, "-m", "pip", "install", "--quiet", *specs]
        run([*pip, "--constraint", str(self.pins)], self.root, self.env)

    def manage(self, *args: str) -> str:
        return run([self.python, "manage.py", *args], self.root, self.env)

    def drive(self, driver: str, mode: str, settings: str | None = None) -> dict:
        """Run ``tests/<driver>`` with the host's Python in the host's project: it acts
        as the host's code would and prints one JSON line."""
        env = {
            **self.env,
            "DJANGO_SETTINGS_MODULE": settings or f"{self.package}.settings",
            "PYTHONPATH": str(self.root),
        }
        script = str(ROOT / "tests" / driver)
        out = run([self.python, script, mode], self.root, env, timeout=180)
        return json.loads(out.strip().splitlines()[-1])

    def worker(self, line: str, log_dir: Path) -> AbstractContextManager[Worker]:
        """A ``celery -A <app> worker [-Q <queues>] ...`` line, as the host runs it."""
        args = self.ours(line).split()[1:]
        app = args[args.index("-A") + 1]
        queues = args[args.index("-Q") + 1] if "-Q" in args else None
        rest = tuple(a for a in args if a not in ("-A", app, "worker", "-Q", queues))
        return celery_worker(self.python, app, queues, self.root, self.env, log_dir, rest)
