"""``taskhub.fanout.send_many``: many messages per round trip, the same messages as
``.delay()``, routed the same, consumed by a real worker."""

import pytest

from taskhub import fanout
from taskhub.tasks import make_thumbnails, welcome
from tests.probe_tasks import record
from tests.workers import queue_length, running_worker, wait_for


def test_in_eager_mode_each_call_runs_inline(tmp_path):
    calls = [((str(tmp_path), f"k{i}"), {}) for i in range(5)]
    assert fanout.send_many(record, calls) == 5
    assert sorted(p.name for p in (tmp_path / "effects").iterdir()) == [f"k{i}" for i in range(5)]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_batched_messages_are_routed_like_delay_and_all_consumed(redis_broker, tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    assert fanout.send_many(welcome, ((("u",), {}) for _ in range(3)), batch_size=2) == 3
    assert fanout.send_many(make_thumbnails, [((1,), {})]) == 1
    assert fanout.send_many(make_thumbnails, [((2,), {})], queue="high") == 1
    calls = (((str(probe), f"k{i:04d}"), {}) for i in range(1200))
    assert fanout.send_many(record, calls, batch_size=500) == 1200
    depths = {q: queue_length(redis_broker, tmp_path, q) for q in ("high", "normal", "low")}
    assert depths == {"high": 4, "normal": 1200, "low": 1}
    with running_worker("normal", redis_broker, tmp_path, concurrency=2):
        effects = probe / "effects"
        wait_for(lambda: effects.exists() and len(list(effects.iterdir())) == 1200, 60, "all")
    assert queue_length(redis_broker, tmp_path, "normal") == 0
