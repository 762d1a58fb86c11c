"""Settings, all read from the environment (django-environ).

Development needs nothing set: SQLite in ``db.sqlite3`` and Celery tasks run eagerly in-process.
Production is ``DJANGO_DEBUG=false``: it then refuses to start without ``DJANGO_SECRET_KEY``
and ``DJANGO_ALLOWED_HOSTS``, and turns on the HTTPS hardening that ``check --deploy`` expects.
Every variable is listed in the README.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)

_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="" if not DEBUG else _DEV_SECRET_KEY)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false (production mode)."
    )

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is false (production mode)."
    )
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "vsm_project",
    "streams",
    "funnel",
    "kaizen",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "vsm_project.timezones.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "vsm_project.middleware.privacy_headers",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "vsm_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

WSGI_APPLICATION = "vsm_project.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's JIT compiles the metric queries for longer (~1 s) than they run.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # `make run` serves SQLite from several gunicorn processes and threads. A transaction that
    # reads and then writes takes the write lock up front (IMMEDIATE), so two of them queue
    # (up to `timeout` seconds) instead of one failing at once with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Invitations (docs/team-and-people.md) go out through Django's email framework. By default
# they are printed on the console; set EMAIL_BACKEND (and EMAIL_HOST, EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS) to send real mail.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# The address links in emails sent by beat (the weekly digest) start with.
VSM_SITE_URL = env.str("VSM_SITE_URL", default="http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Sales value stream <noreply@localhost>")
#: How long an invitation's set-password link stays valid (Django's reset token), seconds.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "vsm_project.staticfiles.CompressedManifestStorage"
    },
    # Asset library files (docs/assets.md): local disk under MEDIA_ROOT, or an S3-compatible
    # bucket through django-storages when ASSETS_S3_BUCKET is set. Never served directly: the
    # asset download view checks the team and sends them as attachments.
    "assets": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
if env.str("ASSETS_S3_BUCKET", default=""):
    STORAGES["assets"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("ASSETS_S3_BUCKET"),
            "endpoint_url": env.str("ASSETS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("ASSETS_S3_REGION", default="") or None,
            "access_key": env.str("ASSETS_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("ASSETS_S3_SECRET_ACCESS_KEY", default="") or None,
            "default_acl": None,  # private: objects inherit the bucket's (private) policy
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
#: Largest asset file accepted, in bytes (25 MB by default).
ASSETS_MAX_BYTES = env.int("ASSETS_MAX_BYTES", default=25 * 1024 * 1024)
#: An asset still unreviewed this many days after it fell due is stale.
ASSETS_STALE_AFTER_DAYS = env.int("ASSETS_STALE_AFTER_DAYS", default=30)
#: A stale asset nobody used on a deal for this many days is suggested for retirement.
ASSETS_UNUSED_DAYS = env.int("ASSETS_UNUSED_DAYS", default=90)

#: Largest file the import accepts, in bytes (the upload wizard and import_events).
VSM_IMPORT_MAX_BYTES = env.int("VSM_IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
# The import refuses files with more columns (docs/importing.md).
VSM_IMPORT_MAX_COLUMNS = env.int("VSM_IMPORT_MAX_COLUMNS", default=500)
# The wizard checks files up to this size in the request; larger ones on a worker, with progress.
VSM_IMPORT_CHECK_INLINE_BYTES = env.int("VSM_IMPORT_CHECK_INLINE_BYTES", default=2 * 1024 * 1024)
# Uploads above this spill to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# An asset file stops being kept as soon as it passes ASSETS_MAX_BYTES (funnel/assets/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "funnel.assets.uploads.AssetUploadLimit",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Celery -------------------------------------------------------------------------------
# Without REDIS_URL every task runs eagerly, in-process, so development needs no broker.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 24 * 3600
# Progress and results live on the Job rows. Storing task results in Redis as well would make
# every web process that queues a task subscribe to Redis for the answer, and that subscriber
# breaks for good ("the Celery application must be restarted") when Redis goes away.
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message a worker took but did not acknowledge (acks_late: it died mid-task) goes back to
# the queue after the visibility timeout. It must outlast the hard time limit, or a long task
# would start a second time while the first still runs; Redis' default is one hour. The
# metrics do not wait for it (the catch-up below queues owed recomputes again); imports and
# other jobs do. Connecting gives up after a few seconds, so a web request that queues work
# while Redis is unreachable answers promptly (docs/background-work.md).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_TASK_TIME_LIMIT + 5 * 60,
    "socket_connect_timeout": 3,
    "socket_timeout": 10,
}
# How often beat queues the catch-up (vsm_project.tasks.catch_up), in seconds.
VSM_CATCH_UP_SECONDS = env.float("VSM_CATCH_UP_SECONDS", default=10.0)
# A recompute queued this long ago that has not started is presumed lost and queued again.
METRICS_REQUEUE_AFTER_SECONDS = env.float("METRICS_REQUEUE_AFTER_SECONDS", default=30.0)
# /healthz says "degraded" when a stream's figures miss a change older than this.
METRICS_OWED_GRACE_SECONDS = env.float("METRICS_OWED_GRACE_SECONDS", default=60.0)
# A job still queued after this is queued again, at most JOBS_REQUEUE_ATTEMPTS times; a job no
# worker took within JOBS_EXPIRE_AFTER_SECONDS fails and can be started again.
JOBS_REQUEUE_AFTER_SECONDS = env.float("JOBS_REQUEUE_AFTER_SECONDS", default=60.0)
JOBS_REQUEUE_ATTEMPTS = env.int("JOBS_REQUEUE_ATTEMPTS", default=3)
JOBS_EXPIRE_AFTER_SECONDS = env.float("JOBS_EXPIRE_AFTER_SECONDS", default=30 * 60)
CELERY_BEAT_SCHEDULE = {
    "catch-up": {
        "task": "vsm_project.tasks.catch_up",
        "schedule": VSM_CATCH_UP_SECONDS,
        # A worker back from an outage runs the catch-ups queued meanwhile (it reconnects up to
        # 30 s after Redis returns: kombu's longest retry interval); older ones are dropped.
        "options": {"expires": 60.0},
    },
    "prune-finished-jobs": {
        "task": "streams.tasks.jobs_prune",
        "schedule": crontab(hour=3, minute=17),
    },
    "prune-import-uploads": {
        "task": "funnel.tasks.prune_import_uploads",
        "schedule": crontab(hour=3, minute=27),
    },
    "recompute-all-metrics": {
        "task": "funnel.tasks.recompute_all_metrics",
        "schedule": crontab(hour=2, minute=7),
    },
    "refresh-open-metrics": {
        "task": "funnel.tasks.refresh_open_metrics",
        "schedule": 300.0,  # seconds: WIP now and stalled deals stay at most 5 minutes old
    },
    "check-open-kaizen-cycles": {
        "task": "kaizen.tasks.check_open_cycles",
        "schedule": 300.0,  # seconds: a cycle's Check counts the deals that moved since
    },
    "notify-handoff-breaches": {
        "task": "funnel.tasks.notify_handoff_breaches",
        "schedule": 300.0,  # seconds: a lead past its hand-off's SLA is told within 5 minutes
        "options": {"expires": 240.0},  # a late run is dropped: the next one sends it
    },
    "forecasts-record": {
        "task": "funnel.tasks.forecasts_record",
        # Hourly: each stream's default forecast is stored once a week, to be scored later.
        # A run in a week already recorded adds nothing (and computes nothing), so the
        # first run after Redis or the workers come back makes up a missed Monday.
        "schedule": crontab(minute=37),
    },
    "forecasts-score": {
        "task": "funnel.tasks.forecasts_score",
        "schedule": crontab(hour=4, minute=47),  # daily: stored forecasts whose horizon passed
    },
    "weekly-digests": {
        # hourly: each run sends this week's digest to the subscribers who have not had it,
        # so a run lost while Redis or the workers were down is made up within the hour
        "task": "kaizen.tasks.send_weekly_digests",
        "schedule": crontab(minute=41),
        "options": {"expires": 3000.0},
    },
    "asset-reviews-due": {
        "task": "funnel.tasks.asset_reviews_due",
        "schedule": crontab(minute=23),  # hourly: a reviewer hears within the hour it fell due
        "options": {"expires": 3000.0},
    },
}
# A recompute waits this long after the first change, so a burst of events rides on it.
METRICS_DEBOUNCE_SECONDS = env.float("METRICS_DEBOUNCE_SECONDS", default=0.25)

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "vsm_project.api.exception_handler",
    # Anti-automation (ASVS 11.1): per signed-in user and per address without one; a 429
    # names the wait in Retry-After. Generous: the bulk endpoint takes 1000 events a request.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        "user": env.str("API_THROTTLE_USER", default="3000/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sales value stream API",
    "DESCRIPTION": "Value streams, deals and visits of the sales value stream app.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # DRF views opt out of LoginRequiredMiddleware; the schema and docs still need a login.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Two "role" fields with different choices: named here, so the schema is warning-free.
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "streams.models.Role",
        "TeamRoleEnum": ["manager", "rep", "leadership", "admin"],
        # The time durations are counted in (docs/metrics.md, "Working time"): the metrics
        # API's `time`, a stream's `time_basis`, a kaizen Check's `basis`.
        "TimeBasisEnum": "streams.models.TimeBasis",
        # A deal's status, and the qualification lab's answers (funnel/api/lab.py), which also
        # have fields named `status`.
        "StatusEnum": "funnel.models.DealStatus",
        "LabModelStatusEnum": ["ok", "not_enough"],
        "LabReadyStatusEnum": ["ready"],
        "LabComputingStatusEnum": ["computing"],
        "LabFailedStatusEnum": ["failed"],
        # Leads (funnel/leads/api.py): a decision's and a reason's `kind`, a hand-off's sides.
        "DecisionKindEnum": "funnel.leads.models.DecisionKind",
        "ReasonKindEnum": "funnel.leads.models.ReasonKind",
        "SideEnum": "funnel.leads.models.Side",
        # The asset library (funnel/assets/api.py): an asset's `kind`, a proposal's `state`.
        "AssetKindEnum": "funnel.assets.models.AssetKind",
        "ProposalStateEnum": "funnel.assets.models.ProposalState",
        "StreamStateEnum": "streams.models.StreamState",
        # Discovery (funnel/discovery/api.py): a deviation's `kind`, a move's `kind`.
        "DeviationKindEnum": "funnel.discovery.models.DeviationKind",
        "MoveKindEnum": ["forward", "skip", "back", "self"],
    },
    # Every operation documents its 400/401/403/404/429 answers (docs/api.md).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "vsm_project.api.error_answers_hook",
    ],
}

# --- Security (docs/security.md) ----------------------------------------------------------
# Login throttling and lockout (django-axes): AXES_FAILURE_LIMIT failed log-ins for one username
# from one address lock that pair out for AXES_COOLOFF_MINUTES; a success resets the count. An
# administrator unlocks at once: `manage.py axes_reset_username <name>` or the admin's "Access
# attempts". Locked out, the login page says so and for how long (429).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# No version banner on every start and every manage.py command.
AXES_VERBOSE = False
# The address is REMOTE_ADDR; behind a reverse proxy, point AXES_CLIENT_IP_CALLABLE at a
# function that reads the proxy's header (docs/security.md).

# Content-Security-Policy (django-csp): scripts only from our static files or with the
# request's nonce; styles may be inline, since plotly.js injects its own <style> elements.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        # Redoc (/api/redoc/) parses the schema in a worker it makes from a blob.
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
#: Browser features no page of the app uses, turned off (vsm_project.middleware).
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)

# --- Security (production) ----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    # `make run` serves plain http://127.0.0.1 and turns these off; production keeps them on.
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
    # /healthz is probed over plain HTTP by the container orchestrator.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A refused request (403, 404) is logged as one warning line, without a traceback.
    "filters": {"no_4xx_traceback": {"()": "vsm_project.errors.NoTracebackFor4xx"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["no_4xx_traceback"]},
    },
    # Django's own console handler (debug only) would print the same records a second time,
    # traceback included: its records go to the root handler alone.
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
