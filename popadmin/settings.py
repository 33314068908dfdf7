"""Settings, read from the environment (django-environ).

Every variable is listed in docs/reference/settings.md. With nothing set, popadmin runs on its
embedded default: SQLite and a filesystem Celery broker, all under ./var.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from popadmin import filemodes, schedule

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
DATA_DIR = Path(env.str("POPADMIN_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
# Importing settings creates nothing: popadmin/apps.py makes the folders (and
# their modes) when Django starts, in every process (web, worker, beat, commands).
# `manage.py up` writes generated keys here once, so restarts keep them;
# real environment variables always win over the file.
if (DATA_DIR / "popadmin.env").exists():
    env.read_env(str(DATA_DIR / "popadmin.env"), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-do-not-use")
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

MAIL_ROOT = Path(env.str("MAIL_ROOT", default=str(DATA_DIR / "mail"))).resolve()
SPOOL_DIR = DATA_DIR / "spool"
# Mode of the Maildir folders popadmin creates (files: the same bits without x).
# 0700: only popadmin's user; 0750 / 0770 when a mail server in its group reads
# (and moves) the mail. Data folder, spool, broker and database stay private.
POPADMIN_MAILDIR_MODE = filemodes.parse_dir_mode(env.str("POPADMIN_MAILDIR_MODE", default="0700"))
# How a group of Maildir copies is made durable before it is recorded:
# "file" (an fsync per copy) or "filesystem" (syncfs, twice per group; for
# a MAIL_ROOT on a filesystem of its own: docs/architecture/performance.md).
POPADMIN_MAILDIR_SYNC = env.str("POPADMIN_MAILDIR_SYNC", default="file")
if POPADMIN_MAILDIR_SYNC not in ("filesystem", "file"):
    raise ImproperlyConfigured(
        f"POPADMIN_MAILDIR_SYNC must be 'filesystem' or 'file', not {POPADMIN_MAILDIR_SYNC!r}")
# Local storage (MAIL_ROOT and SPOOL_DIR) is "low" below either minimum: free
# megabytes, or percent of its space or file entries free. /healthz fails and
# an alert opens (docs/operators/storage.md); 0 turns a minimum off.
POPADMIN_MIN_FREE_MB = env.int("POPADMIN_MIN_FREE_MB", default=100)
POPADMIN_MIN_FREE_PERCENT = env.float("POPADMIN_MIN_FREE_PERCENT", default=1.0)
# Extra CA certificates to trust for remote servers (an internal CA); the
# system store is always trusted too.
POPADMIN_CA_FILE = env.str("POPADMIN_CA_FILE", default="") or None
# OAuth2 sign-in: the redirect URI registered with the providers, e.g.
# https://mail.example.com/oauth/callback. Empty: built from the request.
POPADMIN_OAUTH_REDIRECT_URL = env.str("POPADMIN_OAUTH_REDIRECT_URL", default="")
# No message bigger than this is ever spooled, whatever an account allows:
# a server streaming an endless message cannot fill the disk.
POPADMIN_HARD_MESSAGE_MB = env.int("POPADMIN_HARD_MESSAGE_MB", default=1024)
# Minimum lifetime of an account lease row. A live session's heartbeat renews
# it every third of that, and a killed worker's lease is freed by the next
# dispatcher tick, which finds its session lock gone (retrieval/locks.py); the
# expiry is only the fallback that keeps a lost row from counting forever.
POPADMIN_LEASE_SECONDS = env.int("POPADMIN_LEASE_SECONDS", default=300)
# Empty means: derive from SECRET_KEY (see popadmin/secrets.py). Comma-separated
# keys allow rotation: the first encrypts, all decrypt.
POPADMIN_ENCRYPTION_KEY = env.str("POPADMIN_ENCRYPTION_KEY", default="")
# Shared secret of the local mail server's login-trigger calls (POST
# /api/login-trigger, "Authorization: Bearer <token>"). Empty: endpoint off.
POPADMIN_TRIGGER_TOKEN = env.str("POPADMIN_TRIGGER_TOKEN", default="")
# Bearer token Prometheus sends to GET /metrics ("Authorization: Bearer <token>").
# Empty: /metrics answers signed-in staff only.
POPADMIN_METRICS_TOKEN = env.str("POPADMIN_METRICS_TOKEN", default="")
# Address of a published copy of the documentation site (mkdocs.yml). Empty: the
# getting-started panel and `up --help` name the Markdown files under docs/.
POPADMIN_DOCS_URL = env.str("POPADMIN_DOCS_URL", default="")
# Seconds between the heartbeats each worker and beat writes; one that has
# missed three is shown as silent (and fails /healthz).
POPADMIN_HEARTBEAT_SECONDS = env.float("POPADMIN_HEARTBEAT_SECONDS", default=20)
# Push (IMAP IDLE, `manage.py watch`, docs/architecture/push.md).
# Scheduled polling of an account whose IDLE is healthy: a safety check this often.
POPADMIN_PUSH_SAFETY_MINUTES = env.int("POPADMIN_PUSH_SAFETY_MINUTES", default=180)
# Idle connections one server may hold, counted apart from fetch sessions. 0: no limit.
POPADMIN_IDLE_PER_SERVER = env.int("POPADMIN_IDLE_PER_SERVER", default=2000)
# IDLE is restarted this often: RFC 2177 servers may drop an IDLE after 30 minutes.
POPADMIN_REIDLE_SECONDS = env.int("POPADMIN_REIDLE_SECONDS", default=25 * 60)
# A server without IDLE is asked with NOOP this often, on the held connection.
POPADMIN_PUSH_NOOP_SECONDS = env.int("POPADMIN_PUSH_NOOP_SECONDS", default=30)
# A watcher's hold on its accounts; renewed every third of it. A dead
# watcher's accounts are taken over once it runs out.
POPADMIN_WATCH_LEASE_SECONDS = env.int("POPADMIN_WATCH_LEASE_SECONDS", default=30)
# Logins a watcher runs at once (each a thread while TLS and sign-in last).
POPADMIN_WATCH_CONNECTS = env.int("POPADMIN_WATCH_CONNECTS", default=16)
# How many workers should be alive: /healthz fails, the dashboard says so and
# an alert opens while fewer are. 0: at least one.
POPADMIN_EXPECTED_WORKERS = env.int("POPADMIN_EXPECTED_WORKERS", default=0)
# Network reach of restricted (user-created) remote accounts: the DNS servers
# that resolve their hosts ("addr", "addr:port", "[v6]:port"; empty = the
# system's), and the only ports they may connect to.
POPADMIN_DNS_SERVERS = env.list("POPADMIN_DNS_SERVERS", default=[])
POPADMIN_ALLOWED_PORTS = env.list("POPADMIN_ALLOWED_PORTS", cast=int, default=[110, 995, 143, 993])

INSTALLED_APPS = [
    "popadmin.admin_app.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "popadmin",
    "accounts",
    "retrieval",
    "delivery",
    "api",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The page's language from the browser's Accept-Language (docs/reference/translations.md) ...
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ... unless the signed-in user chose one on their page.
    "accounts.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "popadmin.urls"
WSGI_APPLICATION = "popadmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'popadmin.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: wait for locks instead of
    # failing, and let readers run beside the writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    _broker = DATA_DIR / "broker"
    POPADMIN_BROKER_DIRS = [_broker / _folder for _folder in ("", "queue", "processed", "control")]
    # The transport popadmin/broker.py registers, when popadmin/celery.py loads it.
    CELERY_BROKER_URL = "popadmin-filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        "processed_folder": str(_broker / "processed"),
        "control_folder": str(_broker / "control"),
        "store_processed": False,
        # An idle worker looks for work this often (kombu's default is 1 s,
        # which caps a small install at one session start per second).
        "polling_interval": env.float("POPADMIN_BROKER_POLL_SECONDS", default=0.2),
    }
# Django's cache holds the Test connection counters (retrieval/probe_limits.py): shared by
# every web process, in Redis on the production stack, in files under the data folder on
# the embedded one (gunicorn runs two processes there too).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
else:
    # Its incr() writes with the default timeout: longer than any counter's window.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(DATA_DIR / "cache"), "TIMEOUT": 3600}}
# Test connection: at most (tests, seconds) per person, per staff member in the admin, and
# per remote login (host + username) whoever tests it. docs/security/secrets-and-privileges.md
POPADMIN_PROBE_LIMIT_USER = (env.int("POPADMIN_PROBE_LIMIT_USER", default=5), 60)
POPADMIN_PROBE_LIMIT_STAFF = (env.int("POPADMIN_PROBE_LIMIT_STAFF", default=30), 60)
POPADMIN_PROBE_LIMIT_LOGIN = (env.int("POPADMIN_PROBE_LIMIT_LOGIN", default=10), 600)
# The REST API (/api/v1/, docs/reference/api.md): bearer tokens only, no session cookies, so a
# script never needs a CSRF token and a browser session never acts through the API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests per API token (counted in the cache above: Redis on the production stack).
POPADMIN_API_RATE = env.str("POPADMIN_API_RATE", default="300/minute")
SPECTACULAR_SETTINGS = {
    "TITLE": "popadmin API",
    "DESCRIPTION": "Mailboxes, remote accounts, Check now, runs, deliveries, alerts and "
                   "settings. Authenticate with `Authorization: Bearer <token>` (a token "
                   "made on the API tokens page).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page describe the API; they hold no data of anyone's.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI from this site's own static files (drf-spectacular-sidecar), not a CDN:
    # the Content-Security-Policy allows scripts from this site only.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "api.schema.drop_backend_bounds",
                             "api.schema.add_error_responses"],
}
# Two queues (retrieval/dispatcher.py): "interactive" for checks a person
# asked for and the dispatcher's ticks, "celery" for scheduled checks. A
# worker started without -Q consumes every queue listed here; explicit
# exchanges and routing keys, or Celery binds both to the default key and
# every task would land in both queues.
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Plain options (Celery makes the kombu queues): settings load in every process,
# and kombu's modules are a tenth of a cold `manage.py fetch`'s start.
CELERY_TASK_QUEUES = {
    name: {"exchange": name, "exchange_type": "direct", "routing_key": name}
    for name in ("interactive", "celery")
}
CELERY_TASK_ROUTES = ("retrieval.tasks.route_task",)
# The longest a queued fetch task holds its account; a task found lost (a
# broker restart, a failed publish, a dead worker) frees it at the next tick
# past the pick-up grace (retrieval/lost_claims.py).
POPADMIN_CLAIM_HOLD_SECONDS = env.int("POPADMIN_CLAIM_HOLD_SECONDS", default=300)
# Due accounts checked together by one task before any is fetched
# (retrieval/check_batch.py); 0 fetches every due account straight away.
POPADMIN_CHECK_BATCH = env.int("POPADMIN_CHECK_BATCH", default=100)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after
# each task unless this is set: a new PostgreSQL server process and login
# per task, most of an empty poll. Set, it closes them once per this many
# tasks; in between, popadmin/celery.py applies CONN_MAX_AGE and the health
# check around each task, as Django does around each request.
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A lost broker is retried every second, not after a growing back-off (popadmin/worker_consumer.py).
CELERY_WORKER_CONSUMER = "popadmin.worker_consumer:Consumer"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Seconds between dispatcher ticks of Celery beat; tests shorten it.
POPADMIN_DISPATCH_SECONDS = env.float("POPADMIN_DISPATCH_SECONDS", default=5)
CELERY_BEAT_SCHEDULE = schedule.beat_schedule(POPADMIN_DISPATCH_SECONDS)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
# The languages popadmin's own pages, messages and e-mails are translated into
# (locale/<code>/LC_MESSAGES/django.po); docs/reference/translations.md says how to add one.
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True
# One date format on every page, the admin's included (popadmin/formats/en/formats.py).
FORMAT_MODULE_PATH = ["popadmin.formats"]

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/mail/"

SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Mail out and alerts (retrieval/alerts.py) ----------------------------
# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587 (popadmin/mailers.py);
# the default prints mail to the log.
from popadmin.mailers import mailers_from_url  # noqa: E402

MAILERS = mailers_from_url(env.str("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="popadmin@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Who gets alerts besides account owners; empty: active superusers' addresses.
POPADMIN_ALERT_EMAILS = env.list("POPADMIN_ALERT_EMAILS", default=[])
# A JSON POST per alert ({"title", "text"}): ntfy, Slack-style incoming webhooks.
POPADMIN_ALERT_WEBHOOK_URL = env.str("POPADMIN_ALERT_WEBHOOK_URL", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Web hardening: login throttling, CSP, HTTPS, sessions, audit --------
# (one block, so the security settings read, and merge, together)
import datetime as _dt  # noqa: E402

from csp.constants import NONE as _CSP_NONE  # noqa: E402
from csp.constants import SELF as _CSP_SELF  # noqa: E402

INSTALLED_APPS += ["csp", "axes", "auditlog"]
# Axes answers a locked-out login, so it sits last; the audit trail needs the
# signed-in user, so it follows the authentication middleware.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "csp.middleware.CSPMiddleware")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "popadmin.middleware.AuditMiddleware",
)
MIDDLEWARE += ["popadmin.middleware.NoStoreForSignedInMiddleware",
               "axes.middleware.AxesMiddleware"]

# Where a request comes from, for the login throttle and the audit trail
# (popadmin/client_ip.py). Empty: the TCP peer. Behind a reverse proxy, the
# header it sets, e.g. HTTP_X_FORWARDED_FOR (its last entry is used: the
# one our proxy appended; earlier ones are the client's to forge).
POPADMIN_CLIENT_IP_HEADER = env.str("POPADMIN_CLIENT_IP_HEADER", default="")

# Brute-force protection (django-axes) on both login pages: after
# POPADMIN_LOGIN_FAILURE_LIMIT failures of one username from one address,
# that pair is locked for the cool-off; another address (the real user) or
# another username (a colleague behind the same NAT) can still log in.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("POPADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = _dt.timedelta(minutes=env.int("POPADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every command; lockouts are still logged
AXES_CLIENT_IP_CALLABLE = "popadmin.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "popadmin.lockout.locked_out"

# No inline script or style anywhere: the pages load theirs from static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [_CSP_SELF],
        "script-src": [_CSP_SELF],
        "style-src": [_CSP_SELF],
        "img-src": [_CSP_SELF, "data:"],
        "object-src": [_CSP_NONE],
        "base-uri": [_CSP_NONE],
        "form-action": [_CSP_SELF],
        "frame-ancestors": [_CSP_NONE],
    },
}

# HTTPS: SECURE_COOKIES (above) means the site is served over HTTPS only.
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE
# The container healthcheck asks over plain HTTP from inside the container.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = (env.int("POPADMIN_HSTS_SECONDS", default=365 * 24 * 3600)
                       if SESSION_COOKIE_SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("POPADMIN_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("POPADMIN_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    # Preloading is a submission to the browsers' list, the domain owner's call.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Behind a TLS-terminating proxy: the header it sets for the original scheme,
# e.g. HTTP_X_FORWARDED_PROTO (its value "https" then means HTTPS).
if _proxy_ssl_header := env.str("POPADMIN_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header, "https")

# A session ends after this long without a request.
SESSION_COOKIE_AGE = env.int("POPADMIN_SESSION_IDLE_MINUTES", default=60) * 60
SESSION_SAVE_EVERY_REQUEST = True

# Audit trail (django-auditlog; registrations in popadmin/audit.py).
AUDITLOG_DISABLE_ON_RAW_SAVE = True
# --- end of web hardening -------------------------------------------------
