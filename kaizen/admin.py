"""Kaizen cycles in the admin: for looking things up. Phase moves and decisions go through the
pages and the API (``kaizen.services``); the database refuses an edit that breaks the PDCA
order."""

from django.contrib import admin

from kaizen.models import CycleCheck, CycleComment, KaizenCycle


class CycleCommentInline(admin.TabularInline):
    model = CycleComment
    extra = 0
    raw_id_fields = ["author"]


@admin.register(KaizenCycle)
class KaizenCycleAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "stream",
        "step",
        "metric",
        "phase",
        "outcome",
        "adopted_without_evidence",
        "owner",
        "planned_on",
        "change_date",
        "closed_on",
    ]
    list_filter = ["phase", "outcome", "metric", "stream__team"]
    search_fields = ["title", "problem", "countermeasure"]
    raw_id_fields = ["stream", "step", "owner", "proposed_by", "follow_up_of"]
    readonly_fields = [
        "baseline_value",
        "baseline_n",
        "baseline_start",
        "baseline_end",
        "adopted_standard",
        "evidence_override",
        "checked_at",
    ]
    inlines = [CycleCommentInline]

    @admin.display(boolean=True, description="Adopted without evidence")
    def adopted_without_evidence(self, cycle: KaizenCycle) -> bool:
        return cycle.adopted_without_evidence


@admin.register(CycleCheck)
class CycleCheckAdmin(admin.ModelAdmin):
    """Read-only: a Check is computed by ``kaizen.tasks``, never typed in."""

    list_display = ["cycle", "verdict", "effect", "p_value", "n_before", "n_after", "computed_at"]
    list_filter = ["verdict", "metric"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
