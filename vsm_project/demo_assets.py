"""Demo data of the asset library (docs/assets.md): assets on most steps of the demo stream,
with versions (two small generated PDFs, the rest links), some due or stale for review, one
widely used that goes with winning (a rep uses it more often on deals that end won), and one
nobody uses (stale: suggested for retirement).

:func:`demo_assets_add` adds them only when the demo team has no asset, so ``seed_demo`` may
call it on a demo seeded before the library existed without touching what the team changed.
It runs before the 5S demo, which lists the assets a step's standard work relies on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from funnel.assets.models import (
    Asset,
    AssetKind,
    AssetReview,
    AssetStep,
    AssetUsage,
    AssetVersion,
)
from funnel.models import DealStatus, Visit
from streams.models import Membership, Role, StreamState, ValueStream


@dataclass(frozen=True)
class DemoAsset:
    title: str
    kind: str
    steps: tuple[str, ...]
    tags: str
    description: str
    #: Days since the last review (or creation), and the review interval: due when above.
    reviewed_days_ago: int
    interval: int = 90
    #: Chance a deal that reached the first step used it, when it ended won / otherwise.
    use_won: float = 0.0
    use_other: float = 0.0
    versions: tuple[str, ...] = ("First version.",)
    file: bool = False


ASSETS = (
    DemoAsset(
        "Customer value map",
        AssetKind.VALUE_MAP,
        ("Discovery meeting", "Solution demo"),
        "discovery, value",
        "The customer's pains, gains and jobs, filled in with them at discovery.",
        reviewed_days_ago=20,
        use_won=0.75,
        use_other=0.3,
        versions=("First version.", "Added the finance persona.", "Shorter: one page."),
        file=True,
    ),
    DemoAsset(
        "MEDDPICC qualification guide",
        AssetKind.QUALIFICATION_GUIDE,
        ("Qualification call", "Discovery meeting"),
        "qualification, meddpicc",
        "What to ask for each criterion, and what counts as validated.",
        reviewed_days_ago=45,
        use_won=0.4,
        use_other=0.35,
    ),
    DemoAsset(
        "ROI model",
        AssetKind.ROI_MODEL,
        ("Proposal & ROI model",),
        "roi, pricing",
        "The spreadsheet behind every proposal's business case.",
        reviewed_days_ago=100,  # due
        use_won=0.5,
        use_other=0.4,
        versions=("First version.", "This year's prices."),
        file=True,
    ),
    DemoAsset(
        "Enterprise proposal template",
        AssetKind.TEMPLATE,
        ("Proposal & ROI model",),
        "proposal, enterprise",
        "The proposal layout legal approved.",
        reviewed_days_ago=60,
        use_won=0.3,
        use_other=0.3,
    ),
    DemoAsset(
        "Battle card: legacy CRM suites",
        AssetKind.BATTLE_CARD,
        ("Solution demo", "Negotiation"),
        "competition",
        "Where we win and lose against the big suites, and the traps to set.",
        reviewed_days_ago=140,  # stale (due 50 days ago)
        use_won=0.2,
        use_other=0.2,
    ),
    DemoAsset(
        "Nurture email sequence",
        AssetKind.TEMPLATE,
        ("Lead nurturing",),
        "email, nurture",
        "Six emails over three weeks for leads not ready to talk.",
        reviewed_days_ago=30,
    ),
    DemoAsset(
        "Negotiation playbook",
        AssetKind.PLAYBOOK,
        ("Negotiation",),
        "negotiation, discount",
        "Give-gets, discount limits and who approves what.",
        reviewed_days_ago=10,
        use_won=0.25,
        use_other=0.15,
    ),
    DemoAsset(
        "Case study: Globex rollout",
        AssetKind.CASE_STUDY,
        ("Lead capture",),
        "case study",
        "A 2019 rollout; nobody has sent it in years.",
        reviewed_days_ago=200,  # stale and unused: suggested for retirement
    ),
)


#: When the demo library was started (days before now).
CREATED_DAYS_AGO = 420


def _pdf(title: str, note: str) -> bytes:
    """A one-page PDF that names the asset and the version (enough to open)."""
    text = f"{title}: {note}".replace("(", "[").replace(")", "]")[:80]
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def demo_assets_add(*, team_slug: str, anchor: datetime, seed: int = 42) -> bool:
    """Add the asset library's demo data to the team ``team_slug`` when it has no asset;
    True when added."""
    stream = ValueStream.objects.filter(team__slug=team_slug, state=StreamState.CURRENT).first()
    if stream is None or Asset.objects.filter(team_id=stream.team_id).exists():
        return False
    members = list(
        Membership.objects.filter(team_id=stream.team_id).select_related("user").order_by("id")
    )
    managers = [m.user for m in members if m.role == Role.MANAGER]
    if not managers:
        return False
    rng = np.random.default_rng(seed + 86028121)
    with transaction.atomic():
        for spec in ASSETS:
            _add(stream, spec, managers[0], anchor, rng)
    return True


def _add(stream: ValueStream, spec: DemoAsset, manager, anchor: datetime, rng) -> None:
    now = timezone.now()
    steps = list(stream.steps.filter(name__in=spec.steps).order_by("position"))
    reviewed = now - timedelta(days=spec.reviewed_days_ago)
    # The library is older than the demo's deals, so usage covers the whole year; later
    # versions came at even spaces up to the last review.
    created = now - timedelta(days=CREATED_DAYS_AGO)
    due = reviewed + timedelta(days=spec.interval)
    asset = Asset.objects.create(
        team_id=stream.team_id,
        kind=spec.kind,
        title=spec.title,
        description=spec.description,
        tags=spec.tags,
        owner=manager,
        reviewer=manager,
        review_interval_days=spec.interval,
        last_reviewed_at=reviewed,
        review_due_at=due,
        # The demo's due reviews were announced already: no burst of emails at first start.
        due_notified_at=due if due <= now else None,
        created_at=created,
        created_by=manager,
    )
    version = None
    for number, note in enumerate(spec.versions, start=1):
        at = created + (reviewed - created) * (number - 1) / max(1, len(spec.versions) - 1)
        version = AssetVersion(
            asset=asset,
            number=number,
            change_note=note,
            author=manager,
            created_at=at,
            decided_by=manager,
            decided_at=at,
        )
        if spec.file:
            data = _pdf(spec.title, f"version {number}, {note}")
            name = f"{spec.title.lower().replace(' ', '-').replace(':', '')}-v{number}.pdf"
            version.storage_key = uuid.uuid4().hex
            version.file_name, version.content_type, version.size = (
                name,
                "application/pdf",
                len(data),
            )
            version.file.save(name, ContentFile(data), save=False)
        else:
            slug = spec.title.lower().replace(" ", "-").replace(":", "")
            version.link = f"https://drive.example.com/acme/{slug}/v{number}"
        version.save()
    AssetReview.objects.create(
        asset=asset,
        reviewed_by=manager,
        reviewed_at=reviewed,
        version=version if len(spec.versions) > 1 else None,
        was_due_at=reviewed,
    )
    AssetStep.objects.bulk_create(
        AssetStep(asset=asset, step=step, attached_at=created, attached_by=manager)
        for step in steps
    )
    if steps and (spec.use_won or spec.use_other):
        _usage(asset, steps[0], spec, rng, since=created)


def _usage(asset: Asset, step, spec: DemoAsset, rng, since: datetime) -> None:
    """The deals' owners used the asset on some of the deals that reached ``step``: won deals
    more often when ``use_won`` is above ``use_other`` (an association to read, not proof)."""
    arrivals = (
        Visit.objects.filter(step=step, deal__owner__isnull=False, entered_at__gte=since)
        .order_by("deal_id", "entered_at")
        .values_list("deal_id", "deal__owner_id", "deal__status", "entered_at", "step_id")
    )
    seen: set[int] = set()
    rows = []
    now = timezone.now()
    for deal_id, owner_id, status, entered_at, step_id in arrivals:
        if deal_id in seen:
            continue
        seen.add(deal_id)
        chance = spec.use_won if status == DealStatus.WON else spec.use_other
        if rng.random() < chance:
            rows.append(
                AssetUsage(
                    asset=asset,
                    deal_id=deal_id,
                    user_id=owner_id,
                    step_id=step_id,
                    used_at=min(now, entered_at + timedelta(hours=float(rng.uniform(1, 48)))),
                )
            )
    AssetUsage.objects.bulk_create(rows, batch_size=1000)
