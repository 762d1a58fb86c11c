"""``application`` for an ASGI server. The project is served over WSGI (``wsgi.py``, gunicorn);
this entry point is kept for ASGI servers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vsm_project.settings")

application = get_asgi_application()
