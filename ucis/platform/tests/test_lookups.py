"""Key lists as one array parameter: ``__any`` and ``pg_array`` give the same rows as ``__in``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import connection

from ucis.platform.lookups import pg_array


def test_array_literals_round_trip_through_postgres(db):
    texts = ['plain', 'with "quotes"', "back\\slash", "NULL", "", "逗号,和{括号}", None]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[], %s::bigint[], %s::date[], %s::numeric[], %s::int[]",
                       [pg_array(texts), pg_array([1, 2, None]), pg_array([date(2026, 11, 10)]),
                        pg_array([Decimal("1.500")]), pg_array([])])
        assert cursor.fetchone() == (texts, [1, 2, None], [date(2026, 11, 10)], [Decimal("1.500")], [])


def test_any_lookup_matches_in(org):
    from ucis.org.models import OrgNode

    codes = list(OrgNode.objects.values_list("code", flat=True)) + ["nope", 'x"y']
    ids = list(OrgNode.objects.values_list("pk", flat=True))
    assert set(OrgNode.objects.filter(code__any=codes)) == set(OrgNode.objects.filter(code__in=codes))
    assert OrgNode.objects.filter(pk__any=ids).count() == len(ids) > 0
    assert OrgNode.objects.filter(parent__any=ids).count() == OrgNode.objects.filter(parent__in=ids).count()
    assert not OrgNode.objects.filter(pk__any=[]).exists()
