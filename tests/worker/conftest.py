import pytest

from tests.workers import redis_database


@pytest.fixture(params=["filesystem", "redis"])
def broker_url(request):
    """The embedded broker, or a Redis database of the test's own, flushed before and
    after: the two kinds of pool a prefork worker runs (blocking, asynchronous)."""
    if request.param == "filesystem":
        yield "filesystem://localhost/"
        return
    with redis_database(11) as url:
        yield url
