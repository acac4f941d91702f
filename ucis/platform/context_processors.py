from django.conf import settings

from ucis import __version__


def ucis(request):
    return {"UCIS_VERSION": __version__, "UCIS_DEMO": getattr(settings, "UCIS_DEMO", False)}
