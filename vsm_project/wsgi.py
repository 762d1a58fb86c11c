"""``application``, the WSGI entry point gunicorn serves (``Dockerfile``, ``make run``,
``docker-compose.yml``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsm_project.settings")

application = get_wsgi_application()
