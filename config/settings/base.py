"""Settings shared by every environment; everything that differs comes from the environment.

``DATABASE_URL`` selects the PostgreSQL server. Without it, ``ucis`` starts an embedded
PostgreSQL (PyPI wheel) with its data under ``UCIS_DATA_DIR`` (default ``<project>/.ucis``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("UCIS_DATA_DIR", BASE_DIR / ".ucis"))

SECRET_KEY = os.environ.get("UCIS_SECRET_KEY", "insecure-dev-key-change-me-with-UCIS_SECRET_KEY")
DEBUG = env_bool("UCIS_DEBUG", False)
ALLOWED_HOSTS = env_list("UCIS_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("UCIS_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rules.apps.AutodiscoverRulesConfig",
    "ucis.platform",
    "ucis.org",
    "ucis.customers",
    "ucis.metering",
    "ucis.tariffs",
    "ucis.billing",
    "ucis.ledger",
    "ucis.payments",
    "ucis.service",
    "ucis.knowledge",
    "ucis.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ucis.platform.middleware.AuditContextMiddleware",
    # Axes last: it must see the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "ucis" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ucis.platform.context_processors.ucis",
            ],
        },
    }
]


def database_from_env() -> dict:
    url = os.environ.get("DATABASE_URL")
    if not url:
        # Filled in by ucis.platform.embedded_db before Django sets up (see ucis.cli).
        url = os.environ.get("UCIS_EMBEDDED_DATABASE_URL", "")
    if not url:
        url = "postgresql://postgres@127.0.0.1:5432/ucis"
    config = dj_database_url.parse(url, conn_max_age=int(os.environ.get("UCIS_DB_CONN_MAX_AGE", "60")))
    if not config["ENGINE"].endswith("postgresql"):
        raise RuntimeError("ucis runs on PostgreSQL only: DATABASE_URL must be postgres://…")
    config.setdefault("OPTIONS", {})
    config["TEST"] = {"NAME": os.environ.get("UCIS_TEST_DATABASE", None)}
    return config


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "org.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    # One query for a user's own and group permissions, read by ModelBackend too (see the module).
    "ucis.platform.permcache.PermissionPrefetchBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock-out after repeated failures (django-axes): per username + IP, cleared by an administrator
# (`ucis axes_reset_username <name>`) or after the cool-off period.
AXES_FAILURE_LIMIT = int(os.environ.get("UCIS_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("UCIS_LOGIN_COOLOFF_HOURS", "0.5"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

OTP_TOTP_ISSUER = "ucis"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("UCIS_SESSION_SECONDS", str(8 * 3600)))
SESSION_COOKIE_SECURE = env_bool("UCIS_HTTPS", False)
CSRF_COOKIE_SECURE = env_bool("UCIS_HTTPS", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("UCIS_HTTPS", False) else None
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = os.environ.get("UCIS_LANGUAGE", "zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "ucis" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("UCIS_STATIC_ROOT", DATA_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "ucis" / "static"]
try:  # WhiteNoise warns when the collected-static directory does not exist yet
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:
    pass
MEDIA_ROOT = Path(os.environ.get("UCIS_MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "/media/"
# Customer attachments (CUS-4) live under MEDIA_ROOT/attachments/ and are only ever sent through
# the download view (tenancy, audit); nothing serves MEDIA_URL directly.
UCIS_ATTACHMENT_MAX_BYTES = int(os.environ.get("UCIS_ATTACHMENT_MAX_BYTES", str(10 * 1024 * 1024)))
WHITENOISE_USE_FINDERS = True

# pghistory: every tracked change carries who/where/why; middleware methods include GET so
# that a read-then-write in one request is attributed too.
# Writes open the audit context for the whole request. Reads (GET) do not — otherwise every query of
# every page carries the context's SET prefix (~2 ms a page on the agent screen); a read that writes
# does so inside ``audit_context``, which then adds the request's URL, method and IP itself.
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

CELERY_BROKER_URL = os.environ.get("UCIS_BROKER_URL", "memory://")
CELERY_RESULT_BACKEND = os.environ.get("UCIS_RESULT_BACKEND", "cache+memory://")
# Without a broker configured, tasks run in-process (the zero-setup demo).
CELERY_TASK_ALWAYS_EAGER = env_bool("UCIS_TASKS_EAGER", "UCIS_BROKER_URL" not in os.environ)
CELERY_TASK_EAGER_PROPAGATES = True
# Without a broker, long jobs (legacy imports) run in a thread of the server so pages can show progress.
UCIS_TASKS_IN_THREAD = env_bool("UCIS_TASKS_IN_THREAD", CELERY_TASK_ALWAYS_EAGER)
CELERY_TASK_ACKS_LATE = True
CELERY_TIMEZONE = TIME_ZONE
# Periodic work (``celery -A config beat``); cron can run the same commands instead.
CELERY_BEAT_SCHEDULE = {
    "service-escalate-orders": {"task": "service.escalate_orders", "schedule": 60.0},
    "ledger-accrue-late-fees": {"task": "ledger.accrue_late_fees", "schedule": 24 * 3600.0},
}

NINJA_PAGINATION_PER_PAGE = 50

# Legacy registry imports (CUS-5): the largest file accepted at once, in bytes (100,000 rows of a
# typical legacy export are about 25 MB).
UCIS_IMPORT_MAX_BYTES = int(os.environ.get("UCIS_IMPORT_MAX_BYTES", str(64 * 1024 * 1024)))
# Uploads above this size go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("UCIS_LOG_LEVEL", "WARNING")},
}

UCIS_DEMO_PASSWORD = os.environ.get("UCIS_DEMO_PASSWORD", "ucis-demo-2026")

# Triggers on auto-created link tables (staff ↔ roles) are not in migrations; pgtrigger installs
# every registered trigger after each migrate (idempotent), so those are audited too.
PGTRIGGER_INSTALL_ON_MIGRATE = True

# Field encryption at rest (ORG-5; ucis.platform.crypto). UCIS_FIELD_KEYS: comma-separated
# urlsafe-base64 Fernet keys, the first encrypts, the others only decrypt (rotate with
# `ucis rotate-keys`). UCIS_HASH_KEY: secret of the keyed hash that makes encrypted fields
# searchable by exact value.


def _derive_from_secret_key(label: bytes) -> str:
    """32 bytes from SECRET_KEY by HKDF-SHA256 with ``label`` as info, urlsafe-base64 (a Fernet key)."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(SECRET_KEY.encode())
    return base64.urlsafe_b64encode(raw).decode("ascii")


# Fallbacks derived from SECRET_KEY: development only; production must set UCIS_FIELD_KEYS
# and UCIS_HASH_KEY (config.settings.prod requires them).
UCIS_FIELD_KEYS = env_list("UCIS_FIELD_KEYS", "") or [_derive_from_secret_key(b"ucis field encryption key v1")]
UCIS_HASH_KEY = os.environ.get("UCIS_HASH_KEY") or _derive_from_secret_key(b"ucis keyed hash key v1")

# Billing and the receivables ledger (BIL-1, BIL-3): days from issuing a bill to its due date.
UCIS_BILL_DUE_DAYS = int(os.environ.get("UCIS_BILL_DUE_DAYS", "15"))
# Correction orders (BIL-2): the largest amount (yuan) each role may approve; None = no limit.
UCIS_CORRECTION_LIMITS = {"billing_approver": "1000", "manager": "10000", "administrator": None}
# Bank files: the merchant code a bank writes in a file's header → our company code (default: the
# same code). JSON, e.g. {"4403000123": "LJW"}.
UCIS_BANK_MERCHANTS = json.loads(os.environ.get("UCIS_BANK_MERCHANTS", "{}"))
# Online payment channels (docs/payment-channels.md). In sandbox mode (the default outside
# production) ucis plays WeChat Pay and Alipay itself with keys generated at start.
UCIS_PAYMENT_SANDBOX = env_bool("UCIS_PAYMENT_SANDBOX", True)
UCIS_WECHAT_MCHID = os.environ.get("UCIS_WECHAT_MCHID", "")
UCIS_WECHAT_APPID = os.environ.get("UCIS_WECHAT_APPID", "")
UCIS_WECHAT_API_V3_KEY = os.environ.get("UCIS_WECHAT_API_V3_KEY", "")
UCIS_WECHAT_PLATFORM_KEYS = os.environ.get("UCIS_WECHAT_PLATFORM_KEYS", "")  # SERIAL=FILE,SERIAL=FILE
UCIS_ALIPAY_APP_ID = os.environ.get("UCIS_ALIPAY_APP_ID", "")
UCIS_ALIPAY_SELLER_ID = os.environ.get("UCIS_ALIPAY_SELLER_ID", "")
UCIS_ALIPAY_PUBLIC_KEY = os.environ.get("UCIS_ALIPAY_PUBLIC_KEY", "")  # a file with Alipay's public key
# Prepaid IC cards: the secret each company's card key is derived from (HMAC with the company code).
UCIS_CARD_KEY = os.environ.get("UCIS_CARD_KEY") or _derive_from_secret_key(b"ucis card key v1")

# Service desk (95598). A work-order lock expires after this many minutes without new input from
# its holder (the holder is warned UCIS_ORDER_LOCK_WARN_MINUTES before; their input is kept).
UCIS_ORDER_LOCK_IDLE_MINUTES = int(os.environ.get("UCIS_ORDER_LOCK_IDLE_MINUTES", "15"))
UCIS_ORDER_LOCK_WARN_MINUTES = int(os.environ.get("UCIS_ORDER_LOCK_WARN_MINUTES", "2"))
# Console: an order is "due soon" this many minutes before its deadline.
UCIS_SLA_WARN_MINUTES = int(os.environ.get("UCIS_SLA_WARN_MINUTES", "60"))
# Supervision ladder (督办): (level, fraction of the SLA time used) — the queue's unit, its parent, the company.
UCIS_SLA_ESCALATION = ((1, "0.8"), (2, "1.0"), (3, "1.5"))
# A repair at an address with another repair within this many days is linked as a repeated fault.
UCIS_REPEAT_FAULT_DAYS = int(os.environ.get("UCIS_REPEAT_FAULT_DAYS", "30"))
# The agent screen lists the caller's closed orders of this many days as recent contacts.
UCIS_AGENT_RECENT_DAYS = int(os.environ.get("UCIS_AGENT_RECENT_DAYS", "90"))
