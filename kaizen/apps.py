from django.apps import AppConfig


class KaizenConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kaizen"

    def ready(self) -> None:
        from kaizen.cockpit.panels import digest_account_panel, team_cockpit_panel
        from kaizen.fives.panel import five_s_panel
        from kaizen.selectors import open_cycle_step_ids
        from streams.hooks import (
            register_account_panel,
            register_bursts,
            register_stream_panel,
            register_team_panel,
        )

        register_bursts(open_cycle_step_ids)
        register_stream_panel(five_s_panel)
        register_team_panel(team_cockpit_panel)
        register_account_panel(digest_account_panel)

        from django.db.models.signals import post_migrate, post_save

        from kaizen.fives.services import on_stream_saved, questions_ensure_all
        from streams.models import ValueStream

        # A stream's default 5S questions are written when the stream is made (and, for the
        # streams made before, after each migrate), never by a read.
        post_save.connect(on_stream_saved, sender=ValueStream, dispatch_uid="five_s_defaults")
        post_migrate.connect(
            lambda **kwargs: questions_ensure_all(), sender=self, dispatch_uid="five_s_backfill"
        )
