from django.contrib import admin

from streams.models import (
    FunnelStage,
    InactiveMembership,
    Invitation,
    Job,
    Lane,
    Membership,
    ProcessStep,
    Team,
    UserProfile,
    ValueStream,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user", "team"]


class LaneInline(admin.TabularInline):
    model = Lane
    extra = 0


class StageInline(admin.TabularInline):
    model = FunnelStage
    extra = 0


class StepInline(admin.TabularInline):
    model = ProcessStep
    extra = 0
    # A row per step, in the model's field order: the long notes and the hand-recorded wastes
    # are left to the step's own page.
    exclude = ["notes", "motion_waste", "unused_talent"]


@admin.register(ValueStream)
class ValueStreamAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "state", "drawn_from", "version", "updated_at"]
    list_filter = ["state", "team"]
    search_fields = ["name", "slug", "team__name"]
    readonly_fields = ["version", "created_at", "updated_at"]
    autocomplete_fields = ["team"]
    raw_id_fields = ["drawn_from"]
    inlines = [LaneInline, StageInline, StepInline]


@admin.register(ProcessStep)
class ProcessStepAdmin(admin.ModelAdmin):
    list_display = ["name", "stream", "position", "lane", "value_class"]
    list_filter = ["value_class", "stream__team"]
    search_fields = ["name", "stream__name"]
    list_select_related = ["stream", "lane"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "state", "done", "total", "created_by", "created_at"]
    list_filter = ["state", "kind"]
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


# People (docs/team-and-people.md): for looking things up; managers invite, change roles and
# deactivate on the team's People page, through streams.people.services.


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "invited_by", "sent_at", "accepted_at"]
    list_filter = ["team", "role"]
    raw_id_fields = ["user", "invited_by"]


@admin.register(InactiveMembership)
class InactiveMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "deactivated_at", "deactivated_by"]
    list_filter = ["team"]
    raw_id_fields = ["user", "deactivated_by"]


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "time_zone", "updated_at"]
    search_fields = ["user__username", "time_zone"]
    raw_id_fields = ["user"]
