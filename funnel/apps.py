from django.apps import AppConfig


class FunnelConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "funnel"

    def ready(self) -> None:
        from funnel.eventlog.selectors import measured_map
        from streams.hooks import register_measures

        register_measures(measured_map)
