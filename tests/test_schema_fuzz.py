"""The API fuzzed from its own OpenAPI schema (schemathesis): for a manager, a rep and
leadership of the demo team, every operation of ``/api/schema/`` is called with generated
requests (real object ids mixed in, so requests reach the code behind the 404s), and every
answer must be no 500, a documented status code, the documented content type and a body that
matches the documented schema.

Bounded: :data:`EXAMPLES` requests per operation and role (about 3 × 35 × 8 requests, a minute
or two on two cores). Run alone with ``pytest -m fuzz``.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from funnel.assets.models import Asset, AssetReview, AssetStep, AssetUsage, AssetVersion
from funnel.models import Deal, Visit
from kaizen.models import KaizenCycle
from streams.calendars.services import seed_calendar
from streams.models import (
    FunnelStage,
    InactiveMembership,
    Invitation,
    Lane,
    Membership,
    ProcessStep,
    Team,
    ValueStream,
    WorkingCalendar,
)
from tests.demo_snapshot import demo_restored

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Which objects a path's ``{id}`` names, by the path's first part.
MODELS = {
    "teams": Team,
    "streams": ValueStream,
    "lanes": Lane,
    "steps": ProcessStep,
    "stages": FunnelStage,
    "deals": Deal,
    "visits": Visit,
    "kaizen-cycles": KaizenCycle,
    "members": Membership,
    "inactive-members": InactiveMembership,
    "invitations": Invitation,
    "calendars": WorkingCalendar,
    # The asset library's demo (vsm_project/demo_assets.py).
    "assets": Asset,
    "asset-versions": AssetVersion,
    "asset-attachments": AssetStep,
    "asset-usages": AssetUsage,
    "asset-reviews": AssetReview,
}


@pytest.fixture
def wsgi_app():
    """The project's WSGI application, called in the test's thread and transaction. Like
    Django's test client, it must not close the database connection at the end of each
    request (that would end the test's transaction on PostgreSQL)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def demo_data(db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # the demo's asset files
    # Every request of the run is one user's: the API's throttle must not end it.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": [],
    }
    cache.clear()
    demo_restored(deals=30, seed=11)  # seeded once per process (tests/demo_snapshot.py)
    seed_calendar(Team.objects.get())
    return {
        name: list(model.objects.values_list("pk", flat=True)) for name, model in MODELS.items()
    }


def _runner(operation, ids: list[int], auth: dict[str, str]):
    """A Hypothesis test of one operation: generated requests, half of those that name an
    object by ``{id}`` naming a real one."""

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(), data=st.data())
    def run(case, data):
        if ids and "id" in (case.path_parameters or {}) and data.draw(st.booleans()):
            case.path_parameters["id"] = data.draw(st.sampled_from(ids))
        response = case.call(headers=auth)
        case.validate_response(response, checks=CHECKS, headers=auth)

    return run


@pytest.mark.parametrize("username", ["manager", "alice", "vp"])
def test_every_operation_answers_as_its_schema_says(wsgi_app, demo_data, username):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=username)
    token, _ = Token.objects.get_or_create(user=user)
    auth = {"Authorization": f"Token {token.key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=auth)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:
        ids = demo_data.get(operation.path.strip("/").split("/")[1], [])
        try:
            _runner(operation, ids, auth)()
        except Exception as exc:  # collect every operation's failure, then fail once
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
