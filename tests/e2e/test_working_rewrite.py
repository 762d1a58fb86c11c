"""The working-time rewrite's progress in Chromium: after a calendar change the calendar
pages (and the stream's map page) show one progress bar per stream being rewritten, moved by
static/js/job_progress.js from the job's JSON until it is done, with no CSP violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from funnel.eventlog.working import REWRITE_JOB
from streams.calendars.models import WorkingCalendar
from streams.models import Job, JobState, ValueStream
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login
from .test_calendars import WATCH

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_calendar_pages_follow_a_rewrite_to_its_end(page: Page, demo):
    stream = ValueStream.objects.get(slug=demo.stream_slug)
    team = stream.team
    calendar = WorkingCalendar.objects.get(team=team, is_default=True)
    # A rewrite no worker has started yet (as after a change, with the worker busy).
    job = Job.objects.create(kind=REWRITE_JOB, team=team, params={"stream": stream.pk})
    page.add_init_script(WATCH)
    login(page, "manager", DEMO_PASSWORD)

    page.goto(f"/teams/{team.slug}/calendars/{calendar.pk}/")
    section = page.locator("section.rewrites")
    expect(section).to_contain_text("Working time being rewritten")
    bar = section.get_by_role("progressbar", name=f"Rewriting the working time of {stream.name}")
    expect(bar).to_have_attribute("value", "0")
    expect(section.locator("[data-job-message]")).to_contain_text("Waiting for a background worker")

    Job.objects.filter(pk=job.pk).update(
        state=JobState.RUNNING, done=50, total=100, message="Wrote the deals' offsets"
    )
    expect(section.locator("[data-job-message]")).to_have_text("Wrote the deals' offsets…")
    assert page.evaluate("document.querySelector('section.rewrites progress').value") == 50

    Job.objects.filter(pk=job.pk).update(state=JobState.DONE, done=100, message="Done")
    expect(section.locator("li")).to_have_attribute("data-state", "done")
    expect(section.locator("[data-job-message]")).to_contain_text("Done: the working-time figures")

    # The list of calendars shows it too while it runs; none once it is done.
    page.goto(f"/teams/{team.slug}/calendars/")
    expect(page.locator("section.rewrites")).to_have_count(0)
    Job.objects.create(kind=REWRITE_JOB, team=team, params={"stream": stream.pk})
    page.reload()
    expect(page.locator("section.rewrites")).to_contain_text(stream.name)
    # And the stream's map page, above the map.
    page.goto(f"/streams/{stream.slug}/")
    expect(page.locator("section.rewrites")).to_contain_text("Working time being rewritten")
    expect(page.locator("section.rewrites progress")).to_have_count(1)
    assert page.evaluate("window.__csp") == []
