from django.apps import AppConfig


class KaizenConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "kaizen"
