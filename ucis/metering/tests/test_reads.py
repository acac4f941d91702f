"""Recording reads: bad input refused with field and reason, duplicates harmless, flags to review."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ucis.metering import reads as read_service
from ucis.metering import services
from ucis.metering.models import MeterRead, ReadReview
from ucis.metering.reads import ReadInput
from ucis.platform.tenancy import SYSTEM

from .conftest import TODAY

pytestmark = pytest.mark.django_db


def record(actor, *reads, source="hand", today=TODAY):
    return read_service.meter_reads_record(actor=actor, reads=list(reads), source=source, today=today)


def test_first_read_counts_from_the_install_reading(site):
    result = record(site.reader, ReadInput("WM00000", date(2025, 2, 5), "12.5"))
    assert result.stored == 1 and not result.rejected
    read = MeterRead.objects.get()
    assert read.usage == Decimal("12.5") and read.previous_reading == 0 and read.previous_date == date(2025, 1, 5)
    assert read.status == "accepted" and read.flags == 0 and read.service_point_id == site.points[0].pk


def test_bad_input_is_refused_with_field_and_reason(site, org):
    result = record(
        site.reader,
        ReadInput("WM00000", date(2025, 2, 5), "12a", row="1"),
        ReadInput("WM00000", date(2025, 2, 5), "123456", row="2"),
        ReadInput("WM00000", date(2025, 2, 5), "-3", row="3"),
        ReadInput("WM00000", date(2026, 12, 1), "5", row="4"),
        ReadInput("NOPE", date(2025, 2, 5), "5", row="5"),
        ReadInput("WM00001", date(2024, 12, 1), "5", row="6"),
    )
    reasons = {o.row: (o.problems[0].field, o.problems[0].reason) for o in result.rejected}
    assert reasons["1"] == ("reading", "12a is not a number")
    assert reasons["2"] == ("reading", "the reading 123456 does not fit a 5-digit dial")
    assert reasons["3"] == ("reading", "the reading -3 is negative")
    assert reasons["4"] == ("read_date", "the read date 2026-12-01 is in the future")
    assert reasons["5"] == ("meter", "there is no meter NOPE in your area")
    assert reasons["6"] == ("read_date", "meter WM00001 was not installed on 2024-12-01")
    assert MeterRead.objects.count() == 0


def test_another_branch_cannot_read_the_meter(site, org):
    result = record(org.admin_a, ReadInput("WM00000", date(2025, 2, 5), "5"))
    assert result.rejected[0].problems[0].reason == "there is no meter WM00000 in your area"


def test_removed_meter_cannot_be_read(site):
    from ucis.customers import services as customer_services

    customer_services.meter_remove(actor=SYSTEM, meter_id=site.meters[0].pk, removed_date=date(2025, 6, 1),
                                   removal_reading=Decimal("50"), reason="demolished")
    result = record(site.reader, ReadInput("WM00000", date(2025, 7, 1), "60"))
    assert result.rejected[0].problems[0].reason == (
        "meter WM00000 was removed on 2025-06-01; it cannot be read on 2025-07-01")


def test_duplicates_write_nothing_and_conflicts_are_refused(site):
    first = ReadInput("WM00000", date(2025, 2, 5), "12.5")
    assert record(site.reader, first).stored == 1
    again = record(site.reader, first, first)
    assert again.duplicates == 2 and again.stored == 0
    other = record(site.reader, ReadInput("WM00000", date(2025, 2, 5), "13"))
    assert "already has the reading 12.500 for 2025-02-05" in other.rejected[0].problems[0].reason
    assert MeterRead.objects.count() == 1


def test_same_device_message_is_stored_once(site):
    msg = ReadInput("WM00000", date(2025, 2, 5), "12.5", external_ref="dev-1:88")
    record(site.reader, msg, source="remote")
    assert record(site.reader, msg, source="remote").duplicates == 1
    assert MeterRead.objects.count() == 1


def test_reads_of_one_batch_chain_and_flags_send_to_review(site):
    result = record(site.reader,
                    ReadInput("WM00000", date(2025, 3, 5), "20"),
                    ReadInput("WM00000", date(2025, 2, 5), "10"),
                    ReadInput("WM00000", date(2025, 4, 5), "15"))
    assert result.stored == 3
    reads = list(MeterRead.objects.order_by("read_date"))
    assert [r.usage for r in reads] == [Decimal(10), Decimal(10), Decimal(-5)]
    assert reads[2].status == "pending" and reads[2].findings[0]["code"] == "REVERSE"
    entry = ReadReview.objects.get()
    assert entry.reasons == ["flagged"] and entry.read_id == reads[2].pk and entry.period == date(2025, 4, 1)


def test_rollover_on_a_small_dial_is_accepted(org):
    from .conftest import make_site

    site = make_site(org, households=1, digits=4)
    record(site.reader, ReadInput("WM00000", date(2025, 2, 5), "9990"))
    result = record(site.reader, ReadInput("WM00000", date(2025, 3, 5), "0012"))
    read = MeterRead.objects.get(pk=result.outcomes[0].read_id)
    assert read.usage == Decimal(22) and read.status == "accepted" and read.flags == 1


def test_meter_replaced_within_the_cycle_counts_both_meters(site):
    from ucis.customers import services as customer_services

    record(site.reader, ReadInput("WM00000", date(2025, 2, 5), "100"))
    spare = customer_services.meter_register(actor=SYSTEM, node_id=site.org.station_b.pk, serial="WM90000",
                                             commodity="water", meter_type="smart")
    customer_services.meter_replace(actor=SYSTEM, meter_id=site.meters[0].pk, new_meter_id=spare.pk,
                                    replaced_date=date(2025, 2, 20), removal_reading=Decimal("130"),
                                    install_reading=Decimal("3"), reason="stuck dial")
    result = record(site.reader, ReadInput("WM90000", date(2025, 3, 5), "10"))
    read = MeterRead.objects.get(pk=result.outcomes[0].read_id)
    assert read.usage == Decimal(37)  # 130 − 100 + 10 − 3
    assert "METER_REPLACED" in result.outcomes[0].codes


def test_remote_reads_are_not_held_to_the_readers_window(site, org):
    services.read_cycle_open(actor=SYSTEM, company_id=org.water.pk, period="2025-03")  # window Mar 7–17
    hand = record(site.reader, ReadInput("WM00000", date(2025, 3, 25), "10"))
    remote = record(SYSTEM, ReadInput("WM00001", date(2025, 3, 25), "10", external_ref="dev:1"), source="remote")
    assert hand.outcomes[0].codes == ["OUT_OF_CYCLE"] and hand.outcomes[0].read_status == "pending"
    assert remote.outcomes[0].codes == [] and remote.outcomes[0].read_status == "accepted"
    assert MeterRead.objects.get(pk=remote.outcomes[0].read_id).cycle.period == date(2025, 3, 1)


def test_the_seasonal_baseline_reaches_back_a_year_past_the_recent_reads(site):
    """The recorder loads only the history the checks need; the same month last year (13 reads
    back) still decides HIGH, not the recent average."""
    reading = 0
    for n in range(13):  # Feb 2025 … Feb 2026, 10 a month, but only 2 in March 2025
        month, year = (2 + n - 1) % 12 + 1, 2025 + (2 + n - 1) // 12
        reading += 2 if (year, month) == (2025, 3) else 10
        assert record(SYSTEM, ReadInput("WM00000", date(year, month, 5), str(reading))).stored == 1
    result = record(SYSTEM, ReadInput("WM00000", date(2026, 3, 5), str(reading + 9)))
    read = MeterRead.objects.get(pk=result.outcomes[0].read_id)
    assert result.outcomes[0].codes == ["HIGH"]  # 9 against last March's 2, though 9 is normal lately
    assert "same period last year" in read.findings[0]["template"]
