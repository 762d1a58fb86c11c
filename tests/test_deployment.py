"""Deployment wiring: the compose stack, production settings and the dev/CI entry points.

Production settings are exercised in a ``manage.py`` subprocess with a clean environment, so
nothing the test run itself configured (DATABASE_URL, REDIS_URL, DJANGO_*) leaks into them;
the error pages and static files with ``DEBUG`` switched off in-process.
"""

import gzip
import io
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from django.core.management import call_command
from django.test import Client, override_settings

from vsm_project.errors import NoTracebackFor4xx

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


# --- `make run` looks like the product: error pages, quiet log, compressed static files -----
#
# Settings are loaded with DEBUG on in the test run; ``override_settings(DEBUG=False)`` gives
# the production answers (Django picks the error handlers at request time).


@pytest.fixture
def production_client(client: Client, settings: Any) -> Client:
    settings.DEBUG = False
    client.raise_request_exception = False
    return client


def _console_log() -> tuple[logging.Handler, io.StringIO]:
    """The handler the LOGGING setting gives the root logger, writing into a buffer."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, NoTracebackFor4xx) for f in h.filters)
    )
    return handler, io.StringIO()


@pytest.mark.django_db
def test_an_unknown_page_is_the_apps_own_404_page(production_client, team_setup) -> None:
    production_client.force_login(team_setup.rep_a1)

    response = production_client.get("/no/such/page/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in page and "Back to your streams" in page
    assert 'class="topbar"' in page  # the app's layout, not Django's bare page
    # Another team's deal is "not found" too, with the same page.
    other = production_client.get(f"/deals/{team_setup.deal_b.pk}/")
    assert other.status_code == 404 and "<h1>Not found</h1>" in other.content.decode()


@pytest.mark.django_db
def test_a_refused_page_is_the_apps_own_403_page_naming_the_reason(
    production_client, team_setup
) -> None:
    production_client.force_login(team_setup.rep_a1)

    response = production_client.get(f"/streams/{team_setup.stream_a.slug}/edit/")

    page = response.content.decode()
    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in page and "Only the team&#x27;s managers edit" in page


@override_settings(ROOT_URLCONF="tests.error_urls")
@pytest.mark.django_db
def test_a_crash_is_the_apps_own_500_page_without_details(production_client, team_setup):
    production_client.force_login(team_setup.rep_a1)

    response = production_client.get("/boom/")

    page = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in page and "css/app.css" in page
    assert "a bug in a view" not in page and "Traceback" not in page


@override_settings(ROOT_URLCONF="tests.error_urls")
@pytest.mark.django_db
def test_api_requests_get_json_errors_not_html_pages(production_client, team_setup) -> None:
    production_client.force_login(team_setup.rep_a1)

    not_found = production_client.get("/api/no-such-endpoint/")
    crash = production_client.get("/api/boom/")
    asked_for_json = production_client.get("/no/such/page/", HTTP_ACCEPT="application/json")

    assert not_found.status_code == 404 and not_found.json() == {"detail": "Not found."}
    assert crash.status_code == 500 and "logged" in crash.json()["detail"]
    assert asked_for_json.status_code == 404 and asked_for_json.json() == {"detail": "Not found."}
    # A DRF view answers its own 404 in JSON as before.
    deal = production_client.get(f"/api/deals/{team_setup.deal_b.pk}/")
    assert deal.status_code == 404 and "detail" in deal.json()


@override_settings(ROOT_URLCONF="tests.error_urls")
@pytest.mark.django_db
def test_the_log_has_no_traceback_for_a_refusal_but_keeps_it_for_a_crash(
    production_client, team_setup
) -> None:
    handler, buffer = _console_log()
    previous = handler.setStream(buffer)
    try:
        production_client.force_login(team_setup.rep_a1)
        production_client.get(f"/streams/{team_setup.stream_a.slug}/edit/")  # 403 view
        production_client.get(f"/deals/{team_setup.deal_b.pk}/")  # 404 view
        production_client.get(f"/api/deals/{team_setup.deal_b.pk}/")  # 404 DRF
        refusals = buffer.getvalue()
        production_client.get("/boom/")
        crash = buffer.getvalue()[len(refusals) :]
    finally:
        handler.setStream(previous)

    assert "Forbidden (Permission denied): /streams/" in refusals
    assert "Not Found: /deals/" in refusals and "Not Found: /api/deals/" in refusals
    assert "Traceback" not in refusals and "PermissionDenied" not in refusals
    assert "Traceback" in crash and "a bug in a view" in crash


def test_production_mode_stores_static_files_compressed_with_hashed_names() -> None:
    env = _production_env(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50)[:60],
        DJANGO_ALLOWED_HOSTS="example.com",
    )

    result = _manage(
        "shell", "-c", "from django.conf import settings; print(settings.STORAGES)", env=env
    )

    assert result.returncode == 0, result.stderr
    assert "vsm_project.staticfiles.CompressedManifestStorage" in result.stdout


@pytest.mark.django_db
def test_collected_static_files_are_compressed_and_cached_for_a_year(
    tmp_path: Path, settings: Any
) -> None:
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "vsm_project.staticfiles.CompressedManifestStorage"},
    }
    # The API docs' vendored bundles (drf-spectacular-sidecar, 9 MB of JavaScript, most of
    # the compression's time) are left out: this checks the storage, not every file it takes.
    call_command("collectstatic", "--noinput", "--ignore", "drf_spectacular_sidecar/*", verbosity=0)
    from django.templatetags.static import static

    url = static("js/vendor/plotly.min.js")
    hashed = settings.STATIC_ROOT / url.removeprefix(settings.STATIC_URL).removeprefix("/")
    assert hashed.name != "plotly.min.js" and hashed.is_file()  # a content hash in the name
    gzipped = hashed.with_name(hashed.name + ".gz")
    assert gzipped.is_file() and gzipped.stat().st_size < hashed.stat().st_size / 2

    response = Client().get(url, HTTP_ACCEPT_ENCODING="gzip")  # WhiteNoise reads STATIC_ROOT

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    cache = response["Cache-Control"]
    assert "immutable" in cache and int(cache.split("max-age=")[1].split(",")[0]) >= 31536000
    shutil.rmtree(settings.STATIC_ROOT)


def test_collectstatic_compresses_only_files_without_good_copies(tmp_path: Path) -> None:
    """``make run`` runs collectstatic at every start: copies that unpack to the file's bytes
    are kept (24 s of Brotli otherwise), a missing, damaged or outdated one is made again."""
    from whitenoise.compress import Compressor

    from vsm_project.staticfiles import UNPACK, CompressedManifestStorage

    storage = CompressedManifestStorage(location=tmp_path)
    css = tmp_path / "app.css"
    css.write_text("body { color: red; }\n" * 200)
    assert set(UNPACK) == {".gz", ".br"}
    assert not storage.compressed_already("app.css")  # no copies yet

    original = Compressor.compress

    def compressed(name: str) -> int:
        """How many files compress_files packed."""
        with mock.patch.object(
            Compressor, "compress", autospec=True, side_effect=original
        ) as compress:
            list(storage.compress_files([name]))
        return compress.call_count

    assert compressed("app.css") == 1
    assert storage.compressed_already("app.css")
    assert compressed("app.css") == 0  # the next start: nothing to do

    (tmp_path / "app.css.br").write_bytes(b"damaged")
    assert compressed("app.css") == 1
    assert gzip.decompress((tmp_path / "app.css.gz").read_bytes()) == css.read_bytes()

    css.write_text("body { color: blue; }\n" * 200)  # changed content, same name
    assert not storage.compressed_already("app.css")
    assert compressed("app.css") == 1
    assert gzip.decompress((tmp_path / "app.css.gz").read_bytes()) == css.read_bytes()


def test_make_run_serves_production_like_and_make_dev_debugs() -> None:
    makefile = (ROOT / "Makefile").read_text()
    run = re.search(r"^run:.*?(?=^\S)", makefile, re.MULTILINE | re.DOTALL).group(0)
    dev = re.search(r"^dev:.*?(?=^\S)", makefile, re.MULTILINE | re.DOTALL).group(0)

    assert "collectstatic" in run and "gunicorn" in run and "runserver" not in run
    assert "runserver" in dev
    for setting in ("DJANGO_DEBUG ?= false", "DJANGO_SECURE_COOKIES ?= false"):
        assert f"run demo-reset: export {setting}" in makefile
    assert "SECRET_KEY_FILE" in makefile and "/.local/" in (ROOT / ".gitignore").read_text()


CONCURRENT_WRITERS = """
import threading
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE t (n integer)")
barrier = threading.Barrier(2, timeout=2)
errors = []


def writer(n):
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM t")
                try:
                    barrier.wait()  # both have read before either writes
                except threading.BrokenBarrierError:
                    pass  # the other one is queued behind this transaction
                cursor.execute("INSERT INTO t VALUES (%s)", [n])
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()


threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM t")
    print("rows", cursor.fetchone()[0], "errors", errors)
"""


def test_two_sqlite_transactions_that_read_then_write_queue_instead_of_failing(
    tmp_path: Path,
) -> None:
    """`make run` serves SQLite from several processes and threads: two requests that read and
    then write at the same moment must both succeed (no "database is locked" 500)."""
    env = _production_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'concurrent.sqlite3'}",
        DJANGO_SECRET_KEY="test-only",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
    )

    result = _manage("shell", "-c", CONCURRENT_WRITERS, env=env)

    assert result.returncode == 0, result.stderr
    assert "rows 2 errors []" in result.stdout, result.stdout


@pytest.mark.django_db
def test_a_bad_request_and_an_expired_form_are_the_apps_own_pages(production_client) -> None:
    bad_host = production_client.get("/", HTTP_HOST="not-this-app.example")
    strict = Client(enforce_csrf_checks=True)
    strict.raise_request_exception = False
    expired = strict.post("/accounts/login/", {"username": "x", "password": "y"})

    assert bad_host.status_code == 400
    assert "<h1>Bad request</h1>" in bad_host.content.decode()
    assert expired.status_code == 403
    page = expired.content.decode()
    assert "<h1>This form has expired</h1>" in page and "Nothing was saved" in page
    assert 'class="topbar"' in page and "CSRF verification failed" not in page
