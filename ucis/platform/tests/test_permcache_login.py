"""The permission-prefetch backend answers permission checks only: it must never be the backend a
session is bound to (Django picks the first backend with ``get_user`` for ``force_login``)."""

from django.conf import settings
from django.contrib.auth import load_backend


def test_prefetch_backend_never_holds_a_session(org, client):
    backend = load_backend("ucis.platform.permcache.PermissionPrefetchBackend")
    assert not hasattr(backend, "get_user")
    client.force_login(org.clerk_b)  # no backend named: Django chooses one that can load the user
    assert client.get("/").status_code == 200
    assert "ucis.platform.permcache.PermissionPrefetchBackend" in settings.AUTHENTICATION_BACKENDS
