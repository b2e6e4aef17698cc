"""A prefork worker always stops, even when its whole process group gets SIGTERM
(systemd's default ``KillMode=control-group``, honcho, ``kill -- -PGID``): the cause in
isolation, then real workers stopped that way again and again, on the embedded broker
(billiard's blocking pool, where it hung) and on Redis (Celery's asynchronous pool)."""

import os
import random
import signal
import threading
import time

import billiard
import pytest
from billiard.pool import Pool as BlockingPool

from taskhub.models import DeliveryCount
from taskhub.worker.pool import LOCK_WAIT, StoppingBlockingPool
from tests.figures import report_figures
from tests.probe_tasks import effects, record
from tests.workers import broker_connection, running_worker
from tools.workers import wait_for

#: Stops per broker: a few in ``make test``; ``STOP_ROUNDS=100`` for a soak.
ROUNDS = int(os.environ.get("STOP_ROUNDS", "4"))


def die_holding(lock) -> None:
    lock.acquire()
    os._exit(0)


# Python 3.12 warns of any fork in a process with threads (pytest's); this child only
# takes the lock and exits with os._exit.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_queue_lock_left_by_a_dead_pool_process_no_longer_hangs_the_stop():
    """The cause: a pool process that dies between acquiring the inqueue's read lock and
    releasing it leaves a semaphore nobody will release; billiard's stop waits on it
    forever. taskhub's pool waits a bounded time, then stops without the drain."""
    inqueue = billiard.get_context().SimpleQueue()
    child = billiard.Process(target=die_holding, args=(inqueue._rlock,))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert not inqueue._rlock.acquire(timeout=0.5), "the dead process's lock stays held"
    assert BlockingPool._help_stuff_finish is not StoppingBlockingPool._help_stuff_finish

    task_handler = threading.Thread(target=lambda: None)  # finished: nothing to drain
    started = time.monotonic()
    StoppingBlockingPool._help_stuff_finish(inqueue, task_handler, [])
    assert time.monotonic() - started < LOCK_WAIT + 1


def test_a_free_lock_is_taken_and_the_inqueue_drained_as_billiard_does():
    inqueue = billiard.get_context().SimpleQueue()
    inqueue.put("a task the pool never ran")
    task_handler = threading.Thread(target=time.sleep, args=(1,))
    task_handler.start()
    StoppingBlockingPool._help_stuff_finish(inqueue, task_handler, [])
    assert not inqueue._reader.poll()
    task_handler.join()


@pytest.mark.integration
@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_sigterm_to_the_whole_process_group_always_stops_the_worker(broker_url, tmp_path):
    """Each round: a ``-c 2`` worker busy with short tasks gets SIGTERM in its whole
    process group at a random moment, and must exit within 30 s. Whatever it had not
    finished is given back: a last worker runs it, and every task has its effect, or was
    dead-lettered (on Redis, a task whose worker was killed under it at every one of
    ``TASKHUB_MAX_DELIVERIES`` deliveries: kept, for staff to requeue)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    keys = []
    stop_seconds = []
    for round_ in range(ROUNDS):
        with running_worker("normal", broker_url, tmp_path, concurrency=2) as worker:
            with broker_connection(broker_url, tmp_path) as connection:
                for n in range(6):
                    keys.append(f"{round_}-{n}")
                    record.apply_async(
                        (str(probe), keys[-1], 0.3), queue="normal", connection=connection
                    )
            time.sleep(random.uniform(0.1, 1.2))
            stopped = time.monotonic()
            os.killpg(worker.process.pid, signal.SIGTERM)
            worker.exit_code(30)
            stop_seconds.append(time.monotonic() - stopped)
    with running_worker("normal", broker_url, tmp_path, concurrency=2):
        wait_for(
            lambda: set(effects(probe)) | dead_lettered() == set(keys),
            60,
            "every task's effect or its dead letter",
        )
    report_figures(
        f"stop by process group ({broker_url.split(':')[0]})",
        rounds=ROUNDS,
        hung=0,
        slowest_stop_ms=round(max(stop_seconds) * 1000),
        effects=len(effects(probe)),
        dead_lettered=len(dead_lettered()),
    )


def dead_lettered() -> set[str]:
    """The keys of the probe tasks dead-lettered after too many deliveries."""
    rows = DeliveryCount.objects.filter(task_name="probe.record", dead_lettered_at__isnull=False)
    return {row.args[1] for row in rows}
