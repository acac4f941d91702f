"""Production settings: secrets and hosts must come from the environment."""

import os

from config.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ["UCIS_SECRET_KEY"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Field encryption keys (ucis.platform.crypto): never derived from SECRET_KEY in production.
UCIS_FIELD_KEYS = [key.strip() for key in os.environ["UCIS_FIELD_KEYS"].split(",") if key.strip()]
UCIS_HASH_KEY = os.environ["UCIS_HASH_KEY"]
# Production never plays the payment platforms itself.
UCIS_PAYMENT_SANDBOX = False
