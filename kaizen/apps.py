from django.apps import AppConfig


class KaizenConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kaizen"

    def ready(self) -> None:
        from kaizen.selectors import open_cycle_step_ids
        from streams.hooks import register_bursts

        register_bursts(open_cycle_step_ids)
