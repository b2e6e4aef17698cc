"""Flower never runs without authentication, however and wherever it is started.

Flower reads ``flowerconfig.py`` from the directory it is started in, so a guard there
protects only the checkout. This one is installed by ``taskhub.celery.configure(app)``,
which every ``celery -A <project> flower`` runs: it checks Flower's options once they
are parsed (Tornado's parse callback) and stops Flower when neither basic auth
(``FLOWER_BASIC_AUTH`` or ``--basic-auth``) nor OAuth (``--auth``) is set.
"""

import importlib.util

MESSAGE = (
    "Flower never runs without authentication: set FLOWER_BASIC_AUTH=user:password "
    "(or pass --basic-auth, or --auth for OAuth)"
)
_installed = False


def require_authentication() -> None:
    """Refuse to serve Flower unauthenticated; nothing happens where Flower is absent."""
    global _installed
    if _installed or importlib.util.find_spec("flower") is None:
        return
    from tornado.options import options

    options.add_parse_callback(refuse_without_authentication)
    _installed = True


def refuse_without_authentication() -> None:
    from tornado.options import options

    if not (options.basic_auth or options.auth):
        raise SystemExit(MESSAGE)
