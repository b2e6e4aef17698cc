"""The version matrix that ``pyproject.toml`` claims, one nox session per cell.

``make test`` runs the suite in ``.venv`` (Python 3.11, requirements.txt's pins: Django
5.2 LTS, Celery and kombu 5.7.0) and then the cells tagged ``fast`` (``FAST``), which
fit CI's time; ``make matrix`` runs every cell. Each cell installs requirements-dev.txt's
pins with its own Django in place of the pinned one, and taskhub itself:

- Django 6.x has the Tasks API built in, so its cells leave out the django-tasks
  backport; django-celery-beat 2.9 declares Django<6.1, so the 6.1 cells leave it out
  (the demo then runs beat on Celery's own scheduler) and its tests with it.
- The cells leave out what tests brokers, pools, processes and the browser rather than
  Django and Python, which ``.venv``'s run has done: the fault tests, the RabbitMQ
  cluster, the fan-out, the gevent and prefork pools, the Redis transport, the workers'
  routing, prefetch and logs, Flower, the pages in Chromium, the quick start (``make
  run`` on ``.venv``) and the real host (a Django 6.1 host of its own). The asyncio pool
  stays in: it runs Django's async tasks beside Django's own async-safety checks.
- Celery and kombu are 5.7.0 in every cell: the lowest that taskhub claims is the newest.
  On 5.6 and 5.5, taskhub's Redis transport finds none of the kombu internals it builds
  on (``Channel._expires``, ``supports_batch_publish``, ``_flush_brpop_reauth``).

Interpreters are found by name (``python3.12``); ``tools/python-path`` puts them on
PATH, as the Makefile does.
"""

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
DJANGO = {"5.2": "5.2.19", "6.0": "6.0.10", "6.1": "6.1.3"}
NOT_DJANGO = (
    "-m",
    "not faults and not browser",
    "--ignore=tests/delivery/test_cluster.py",
    "--ignore=tests/test_quickstart.py",
    "--ignore=tests/test_real_host.py",
    "--ignore=tests/delivery/test_fanout.py",
    "--ignore=tests/delivery/test_confirms.py",
    "--ignore=tests/worker/test_consumer.py",
    "--ignore=tests/worker/test_flower.py",
    "--ignore=tests/worker/test_green.py",
    "--ignore=tests/worker/test_logging.py",
    "--ignore=tests/worker/test_pool.py",
    "--ignore=tests/worker/test_prefetch.py",
    "--ignore=tests/worker/test_redis_broker.py",
    "--ignore=tests/worker/test_worker_routing.py",
)

#: (python, django): every cell, and those ``make test`` runs.
CELLS = [
    ("3.12", "5.2"),
    ("3.12", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "5.2"),
    ("3.13", "6.0"),
    ("3.13", "6.1"),
]
FAST = [("3.12", "6.0"), ("3.13", "6.1")]


def pinned(files: list[str], leave_out: set[str]) -> list[str]:
    """requirements files' pins, but for the packages named in ``leave_out``."""
    lines = []
    for name in files:
        for line in (ROOT / name).read_text().splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "-r")):
                continue
            package = line.split("==")[0].split("[")[0].lower()
            if package not in leave_out:
                lines.append(line)
    return lines


def requirements(django: str) -> list[str]:
    leave_out = {"django"}
    if django != "5.2":
        leave_out.add("django-tasks")
    if django == "6.1":
        leave_out.add("django-celery-beat")
    pins = pinned(["requirements.txt", "requirements-dev.txt"], leave_out)
    return [*pins, f"Django=={DJANGO[django]}"]


def pytest_args(django: str) -> list[str]:
    leave_out = list(NOT_DJANGO)
    if django == "6.1":
        leave_out.append("--ignore=tests/worker/test_beat.py")
    return ["-p", "no:cacheprovider", *leave_out]


@nox.session
@nox.parametrize(
    ("python", "django"),
    [
        nox.param(*cell, id=f"py{cell[0]}-django{cell[1]}", tags=["fast"] if cell in FAST else [])
        for cell in CELLS
    ],
)
def tests(session: nox.Session, django: str) -> None:
    session.install("--quiet", *requirements(django))
    session.install("--quiet", "--no-deps", "--editable", ".")
    session.run("python", "-m", "pytest", *pytest_args(django), *session.posargs)
