"""Test settings: real PostgreSQL (DATABASE_URL, or 127.0.0.1:5432, or embedded), fast hashing."""

from config.settings.base import *  # noqa: F403

DEBUG = False
# Argon2 stays first so tests prove it is used; its cost is lowered to keep the suite quick.
PASSWORD_HASHERS = ["ucis.platform.hashers.FastArgon2PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
AXES_FAILURE_LIMIT = 5
