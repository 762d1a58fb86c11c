from django.apps import AppConfig


class FunnelConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "funnel"

    def ready(self) -> None:
        from funnel.assets.map import asset_markers, asset_panel
        from funnel.discovery.map_markers import conformance_markers, discovered_edges
        from funnel.eventlog.selectors import measured_map
        from funnel.eventlog.working import working_offsets_calendar_changed
        from funnel.leads.map_markers import handoff_markers
        from streams.calendars.hooks import register_calendar_changed
        from streams.hooks import (
            register_discovered_edges,
            register_measures,
            register_step_markers,
            register_stream_panel,
        )

        register_measures(measured_map)
        register_step_markers(handoff_markers)
        # The asset library on the map: a count per step, and each step's assets (issue 17).
        register_step_markers(asset_markers)
        register_stream_panel(asset_panel)
        # Process discovery on the map: each step's conformance (issue 18, point 3).
        register_step_markers(conformance_markers)
        # ... and the moves the deals made, an overlay the map page shows on request.
        register_discovered_edges(discovered_edges)
        # A calendar change rewrites the working-time offsets of the streams it covers.
        register_calendar_changed(working_offsets_calendar_changed)
