"""Active criterion names are unique whatever their case: the services check it, the set's
row is locked so two additions at once check one after the other, and the database refuses
what slips past (a 400 naming ``name``, never a 500)."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.db import IntegrityError, connection, transaction

from funnel.qualification import services
from funnel.qualification.models import Criterion
from funnel.qualification.services import criterion_create

pytestmark = pytest.mark.django_db


def test_the_database_refuses_two_active_names_differing_only_in_case(qual):
    with pytest.raises(IntegrityError), transaction.atomic():
        Criterion.objects.create(criteria_set=qual.criteria_set, key="other", name="metrics")
    # A retired version may share its name with the active one.
    qual.crit.retired_at = qual.t
    qual.crit.save()
    Criterion.objects.create(criteria_set=qual.criteria_set, key="other", name="metrics")


def test_two_creates_differing_in_case_the_second_is_a_400_naming_name(api_client, qual):
    api_client.force_authenticate(qual.manager_a)
    body = {"stream": qual.stream_a.pk, "name": "Timing"}
    assert api_client.post("/api/criteria/", body, format="json").status_code == 201
    second = api_client.post("/api/criteria/", {**body, "name": "TIMING"}, format="json")
    assert second.status_code == 400 and list(second.json()) == ["name"]


@pytest.mark.parametrize("how", ["create", "rename"])
def test_a_name_clash_only_the_database_sees_is_a_400_naming_name(api_client, qual, how):
    """As when another request saved the name between this one's check and its write."""
    api_client.force_authenticate(qual.manager_a)
    before = Criterion.objects.count()
    with mock.patch.object(services, "_check_fields", return_value={}):
        if how == "create":
            answer = api_client.post(
                "/api/criteria/", {"stream": qual.stream_a.pk, "name": "metrics"}, format="json"
            )
        else:
            answer = api_client.patch(
                f"/api/criteria/{qual.criteria[1].pk}/", {"name": "METRICS"}, format="json"
            )
    assert answer.status_code == 400
    assert "saved at the same moment" in answer.json()["name"][0]
    assert Criterion.objects.count() == before
    assert Criterion.objects.get(pk=qual.criteria[1].pk).name == qual.criteria[1].name


def test_a_name_clash_on_the_criteria_page_is_a_form_error(client, qual):
    client.force_login(qual.manager_a)
    with mock.patch.object(services, "_check_fields", return_value={}):
        page = client.post(
            f"/streams/{qual.stream_a.slug}/criteria/add/",
            {"name": "METRICS", "scale": "evidence", "met_level": 2},
        )
    assert page.status_code == 400
    assert "saved at the same moment" in page.content.decode()


@pytest.mark.postgresql  # row locks
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("set_exists", [True, False])
def test_two_simultaneous_creates_check_their_names_one_after_the_other(team_setup, set_exists):
    """Each create's name check takes 0.3 s; both start together. With the set's row locked
    (or, without a set yet, its creation waited for) the second waits for the first to
    commit, so its check names the clash."""
    ns = team_setup
    if set_exists:
        criterion_create(stream=ns.stream_a, user=ns.manager_a, name="Budget")
    check = services._check_fields

    def slow_check(**kwargs):
        found = check(**kwargs)
        time.sleep(0.3)
        return found

    answers: dict[str, object] = {}

    def create(name: str) -> None:
        try:
            answers[name] = criterion_create(stream=ns.stream_a, user=ns.manager_a, name=name)
        except Exception as exc:
            answers[name] = exc
        finally:
            connection.close()

    with mock.patch.object(services, "_check_fields", side_effect=slow_check):
        threads = [threading.Thread(target=create, args=(n,)) for n in ("Timing", "TIMING")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    made = [a for a in answers.values() if isinstance(a, Criterion)]
    refused = [a for a in answers.values() if not isinstance(a, Criterion)]
    assert len(made) == 1 and len(refused) == 1
    (other,) = {"Timing", "TIMING"} - {made[0].name}
    assert refused[0].message_dict == {
        "name": [f"The set already has a criterion named “{other}”."]
    }
