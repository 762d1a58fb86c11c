# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app

# Pango (LGPL) and a font for WeasyPrint, which makes the dashboards' PDFs (docs/pdf.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Runtime dependencies only, read from [project].dependencies: exactly what `pip install .`
# would pull in, minus the dev extras (pytest, Playwright, ruff), which production never runs
# and which would add a browser toolchain to the image. They get their own layer, keyed on
# pyproject.toml alone, so editing code does not reinstall numpy and scipy.
#
# The project itself is not copied into site-packages: settings find templates/ and static/
# next to the vsm_project package (BASE_DIR), so the code runs from /app via PYTHONPATH. A
# second, installed copy would shadow that depending on the entry point (manage.py, gunicorn,
# celery) and point BASE_DIR at site-packages.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# Static files are part of the image (served by WhiteNoise). Production settings refuse to load
# without a secret key and allowed hosts; these values exist only for this build step and never
# reach the runtime environment.
RUN DJANGO_DEBUG=false \
    DJANGO_SECRET_KEY=build-time-only-collectstatic-key-not-used-at-runtime \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput

# Code and static files stay owned by root, so the app user cannot change them.
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
# The one folder the app writes: asset library files (MEDIA_ROOT; a volume in docker-compose).
RUN mkdir -p /data/media && chown app /data/media
ENV MEDIA_ROOT=/data/media
USER app

EXPOSE 8000

# No control socket: it would go to $HOME, which the app user does not have.
CMD ["gunicorn", "vsm_project.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-", "--no-control-socket"]
