"""Deployment wiring: the compose stack, production settings and the dev/CI entry points.

No database: settings are exercised in a ``manage.py`` subprocess with a clean environment, so
nothing the test run itself configured (DATABASE_URL, REDIS_URL, DJANGO_*) leaks into them.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _production_env(**overrides: str) -> dict[str, str]:
    """The parent environment without any app configuration, in production mode."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_") and key not in {"DATABASE_URL", "REDIS_URL"}
    }
    env["DJANGO_DEBUG"] = "false"
    env.update(overrides)
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_defines_the_compose_services() -> None:
    services = _compose()["services"]

    assert {"postgres", "redis", *APP_SERVICES} <= services.keys()


def test_it_runs_web_worker_and_beat_from_one_image() -> None:
    services = _compose()["services"]

    images = {services[name].get("image") for name in APP_SERVICES}
    builds = {repr(services[name].get("build")) for name in APP_SERVICES}
    assert len(images) == 1 and None not in images, images
    assert len(builds) == 1 and "None" not in builds, builds


def test_it_points_the_app_services_at_postgres_and_redis() -> None:
    services = _compose()["services"]

    for name in APP_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://"), name
        assert "@postgres:" in env["DATABASE_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:"), name
        depends_on = service["depends_on"]
        for dependency in ("postgres", "redis"):
            assert depends_on[dependency]["condition"] == "service_healthy", (name, dependency)


def test_it_probes_healthz_in_the_web_healthcheck() -> None:
    healthcheck = _compose()["services"]["web"]["healthcheck"]

    assert "/healthz" in " ".join(healthcheck["test"])


def test_it_passes_the_deploy_checks_in_production_mode() -> None:
    env = _production_env(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50)[:60],
        DJANGO_ALLOWED_HOSTS="example.com",
    )

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output, output


def test_it_refuses_to_start_in_production_without_a_secret_key() -> None:
    env = _production_env(DJANGO_ALLOWED_HOSTS="example.com")

    result = _manage("check", env=env)

    assert result.returncode != 0, result.stdout
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_it_has_run_test_and_lint_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()

    for target in ("run", "test", "lint"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target


def test_it_ships_an_executable_ci_script() -> None:
    ci_run = ROOT / ".ci" / "run"

    assert ci_run.is_file()
    assert os.access(ci_run, os.X_OK)
