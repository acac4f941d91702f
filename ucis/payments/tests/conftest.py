from ucis.ledger.tests.conftest import Billed, bill_month, billed, ledger_invariants  # noqa: F401 - shared fixtures
