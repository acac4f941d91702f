from ucis.metering.tests.conftest import Site, make_site  # noqa: F401 - shared fixtures
