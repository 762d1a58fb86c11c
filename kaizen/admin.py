from django.contrib import admin

from kaizen.models import KaizenCycle


@admin.register(KaizenCycle)
class KaizenCycleAdmin(admin.ModelAdmin):
    list_display = ["title", "stream", "step", "phase", "owner", "planned_on", "change_date"]
    list_filter = ["phase", "stream__team"]
    search_fields = ["title", "problem"]
    raw_id_fields = ["stream", "step", "owner"]
