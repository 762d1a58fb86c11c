from django.apps import AppConfig


class KaizenConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kaizen"

    def ready(self) -> None:
        from kaizen.fives.panel import five_s_panel
        from kaizen.selectors import open_cycle_step_ids
        from streams.hooks import register_bursts, register_stream_panel

        register_bursts(open_cycle_step_ids)
        register_stream_panel(five_s_panel)
