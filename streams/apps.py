from django.apps import AppConfig


class StreamsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "streams"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from streams.people.views import remember_time_zone

        # The person's time zone goes into the session at login (the login writes the session
        # anyway), so no page view reads the profile (vsm_project.timezones).
        user_logged_in.connect(remember_time_zone, dispatch_uid="streams.remember_time_zone")
