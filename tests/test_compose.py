"""docker-compose.yml validates, and has the layout docs/howto/deploy.md promises."""

import os
import shutil
import subprocess

import pytest
import yaml

from taskhub import conf
from tests.workers import ROOT

SECRETS = {
    "SECRET_KEY": "k",
    "POSTGRES_PASSWORD": "p",
    "REDIS_PASSWORD": "r",
    "FLOWER_BASIC_AUTH": "admin:pw",
}


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: make test installs Debian's docker-compose")
        pytest.skip("Debian's docker-compose is not installed (apt-get install docker-compose)")
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), *args],
        env=clean | env,
        capture_output=True,
        text=True,
    )


def test_compose_file_validates():
    result = compose("config", "-q", env=SECRETS)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_run_without_each_secret(missing):
    env = {k: v for k, v in SECRETS.items() if k != missing}
    result = compose("config", "-q", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_one_worker_per_latency_class_beat_and_authenticated_flower():
    result = compose("config", env=SECRETS)
    services = yaml.safe_load(result.stdout)["services"]
    assert {"redis", "postgres", "web", "worker-high", "worker-default", "beat", "flower"} <= set(
        services
    )
    command = services["worker-high"]["command"]
    assert command[command.index("-Q") + 1] == "high"
    command = services["worker-default"]["command"]
    assert command[command.index("-Q") + 1] == "normal,low"
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "admin:pw"
    assert "--appendonly" in services["redis"]["command"]
    for name in ("redis", "postgres", "web", "worker-high", "worker-default", "flower"):
        assert "healthcheck" in services[name], name
    images = {services[name].get("image") for name in ("web", "worker-high", "beat", "flower")}
    assert images == {"taskhub:latest"}


def test_the_rabbitmq_override_points_every_app_service_at_rabbitmq():
    files = ("-f", str(ROOT / "docker-compose.rabbitmq.yml"))
    missing = compose(*files, "config", "-q", env=SECRETS)
    assert missing.returncode != 0 and "RABBITMQ_PASSWORD" in missing.stderr
    result = compose(*files, "config", env=SECRETS | {"RABBITMQ_PASSWORD": "q"})
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("migrate", "web", "worker-high", "worker-default", "beat", "flower"):
        environment = services[name]["environment"]
        assert environment["CELERY_BROKER_URL"] == "amqp://taskhub:q@rabbitmq:5672/taskhub"
        assert environment["DEBUG"] == "0", "the base environment is kept"
    assert "healthcheck" in services["rabbitmq"]
    erl_args = services["rabbitmq"]["environment"]["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"].split()
    consumer_timeout_ms = int(erl_args[erl_args.index("consumer_timeout") + 1])
    longest = max(hard for _, hard in conf.DEFAULTS["TIME_LIMITS"].values())
    assert consumer_timeout_ms > longest * 1000, "a report outlives the broker's patience"
    for name in ("worker-high", "worker-default"):
        declared = int(services[name]["environment"]["RABBITMQ_CONSUMER_TIMEOUT"])
        assert declared * 1000 == consumer_timeout_ms, "check W002 sees what the broker has"
