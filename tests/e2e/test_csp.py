"""The Content-Security-Policy breaks nothing: every main page, loaded in Chromium as a
manager, raises no CSP violation (neither a ``securitypolicyviolation`` event nor a console
error), and the charts that plotly.js draws are drawn under it. Live server, demo data."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from funnel.assets.models import Asset
from funnel.models import Deal
from kaizen.models import KaizenCycle, Phase
from vsm_project.demo import DEMO_PASSWORD

from .conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Collects violations from the first script the page runs (an init script is not subject to
# the page's policy), so a violation before any of our scripts is seen too.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def violations_on(page: Page, path: str, console: list[str]) -> list[str]:
    console.clear()
    response = page.goto(path)
    assert response is not None and response.status == 200, path
    assert response.headers.get("content-security-policy"), path
    page.wait_for_load_state("networkidle")
    return page.evaluate("window.__csp") + list(console)


def test_no_main_page_violates_the_content_security_policy(page: Page, demo):
    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    page.add_init_script(WATCH)
    login(page, "manager", DEMO_PASSWORD)
    slug = demo.stream_slug
    cycle = KaizenCycle.objects.exclude(phase=Phase.PLAN).order_by("pk").first()
    deal = Deal.objects.filter(stream__slug=slug).order_by("pk").first()
    value_map = Asset.objects.get(title="Customer value map")
    pages = [
        "/",
        f"/streams/{slug}/",
        f"/streams/{slug}/edit/",
        f"/streams/{demo.future_slug}/",
        f"/dashboards/streams/{slug}/funnel/",
        f"/dashboards/streams/{slug}/flow/",
        f"/dashboards/streams/{slug}/waste/",
        f"/dashboards/streams/{slug}/quality/",
        f"/dashboards/streams/{slug}/discovery/",
        "/dashboards/teams/acme-sales/",
        "/kaizen/",
        f"/kaizen/{cycle.pk}/",
        "/deals/",
        f"/deals/{deal.pk}/",
        "/deals/import/",
        f"/assets/{value_map.pk}/",
        "/assets/outcomes/",
        "/api/docs/",
        # Not /api/redoc/: Redoc's footer logo comes from cdn.redoc.ly, which the policy blocks
        # on purpose (the app loads nothing from other sites); its docs work without it.
    ]
    found = {path: violations_on(page, path, console) for path in pages}
    assert {path: v for path, v in found.items() if v} == {}
    # The scripts that draw under the policy did draw: a dashboard's charts and the run chart.
    page.goto(f"/dashboards/streams/{slug}/flow/")
    page.wait_for_selector(".plot .main-svg")
    page.goto(f"/kaizen/{cycle.pk}/")
    page.wait_for_selector("#run-chart .main-svg")
    page.goto(f"/assets/{value_map.pk}/")
    page.wait_for_selector(".outcome-chart .main-svg")
    page.goto("/api/docs/")
    page.wait_for_selector(".swagger-ui .info")
