"""Test settings: real PostgreSQL — DATABASE_URL, else the local server on 127.0.0.1:5432, else the
embedded one — with a lowered Argon2 cost so the suite stays quick."""

from ucis.platform.embedded_db import ensure_database_url

ensure_database_url(prefer_local_server=True)

from config.settings.base import *  # noqa: E402,F403
from config.settings.base import database_from_env  # noqa: E402

DATABASES = {"default": database_from_env()}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DEBUG = False
# Argon2 stays the hasher so tests prove it is used; its cost is lowered to keep the suite quick.
PASSWORD_HASHERS = ["ucis.platform.hashers.FastArgon2PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
UCIS_TASKS_IN_THREAD = False  # tests see a job's outcome when the request returns
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
AXES_FAILURE_LIMIT = 5
