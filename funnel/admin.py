from django.contrib import admin

from funnel.eventlog.paths import deal_paths_refresh
from funnel.eventlog.working import deal_offsets_refresh
from funnel.models import Deal, DealEvent, MetricsSnapshot, Visit


class VisitInline(admin.TabularInline):
    """The event log is written by services and imports; the admin shows it read-only."""

    model = Visit
    extra = 0
    can_delete = False
    fields = ["step", "entered_at", "exited_at", "work_minutes", "actor", "actor_name"]
    readonly_fields = fields
    ordering = ["entered_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DealEventInline(admin.TabularInline):
    """The deal's closes, undos and reopens: its history, never edited."""

    model = DealEvent
    extra = 0
    can_delete = False
    fields = ["kind", "recorded_at", "actor", "status", "closed_at", "lost_reason", "reason"]
    readonly_fields = fields
    ordering = ["recorded_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "stream", "owner", "status", "amount", "created_at"]
    list_filter = ["status", "stream__team", "stream", "source"]
    search_fields = ["external_id", "name", "account"]
    list_select_related = ["stream", "owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["status", "closed_at", "lost_reason", "updated_at"]
    date_hierarchy = "created_at"
    inlines = [VisitInline, DealEventInline]


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    list_display = ["deal", "step", "entered_at", "exited_at", "work_minutes", "actor"]
    list_filter = ["step__stream", "step"]
    search_fields = ["deal__external_id", "deal__name"]
    list_select_related = ["deal", "step", "actor"]
    raw_id_fields = ["deal", "step", "actor"]
    date_hierarchy = "entered_at"
    readonly_fields = ["created_at", "updated_at"]

    # An edit can reorder a path or change its times: its facts (funnel.eventlog.paths) and
    # working-time offsets (funnel.eventlog.working) are recomputed after each change.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The visit may have moved to another deal: both paths change.
        _refresh({obj.deal_id, form.initial.get("deal", obj.deal_id)})

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        _refresh([obj.deal_id])

    def delete_queryset(self, request, queryset):
        deal_ids = set(queryset.values_list("deal_id", flat=True))
        super().delete_queryset(request, queryset)
        _refresh(deal_ids)


def _refresh(deal_ids) -> None:
    deal_paths_refresh(deal_ids)
    deal_offsets_refresh(deal_ids)


@admin.register(MetricsSnapshot)
class MetricsSnapshotAdmin(admin.ModelAdmin):
    """Snapshots are written by the metrics engine only; the admin lets staff look at them
    (and delete one, which the next request or recompute writes again)."""

    list_display = ["stream", "window_key", "filter_key", "computed_at", "now_at", "requested_at"]
    list_filter = ["stream", "window_key"]
    list_select_related = ["stream"]
    readonly_fields = [f.name for f in MetricsSnapshot._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
