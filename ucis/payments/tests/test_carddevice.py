"""IC-card prepaid meters: the card image and its MAC, the simulated device, and re-writes after a
failed write that never load credit twice."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ucis.kernel.errors import DomainError
from ucis.payments import carddevice as cd

KEY = b"company-card-key-0001-32-bytes!!"
OTHER_KEY = b"another-company-card-key-000002!"
METER = "WM2026000123"
CARD = "8801000000000042"


def new_device(**kwargs):
    return cd.SimulatedCardDevice(key=KEY, card=cd.blank_card(card_no=CARD, meter_serial=METER, key=KEY), **kwargs)


def buy(device, sequence, volume):
    return cd.load_purchase(device, sequence=sequence, volume=D(volume), key=KEY, meter_serial=METER, card_no=CARD)


def test_the_card_image_is_64_bytes_and_reads_back():
    image = cd.seal(card_no=CARD, meter_serial=METER, sequence=7, credit=D("12.50"), cumulative=D("300.25"), key=KEY)
    data = image.to_bytes()
    assert len(data) == cd.SIZE and data[:2] == b"UC"
    assert cd.read_image(data, key=KEY) == image


@pytest.mark.parametrize("offset", [0, 2, 4, 20, 36, 40, 44, 52, 56, 63])
def test_a_changed_byte_anywhere_is_detected(offset):
    device = new_device()
    buy(device, 1, "10.00")
    device.tamper(offset, device.raw[offset] ^ 0x01)
    with pytest.raises(cd.CardTampered):
        device.read()


def test_a_card_of_another_company_is_detected():
    device = cd.SimulatedCardDevice(key=KEY, card=cd.blank_card(card_no=CARD, meter_serial=METER, key=OTHER_KEY))
    with pytest.raises(cd.CardTampered):
        device.read()


def test_a_purchase_adds_credit_and_cumulative_and_the_meter_loads_it_once():
    device = new_device()
    outcome = buy(device, 1, "20.00")
    assert outcome.written and outcome.explanation == "purchase 1 written: 20.00 to load into the meter"
    card = device.read()
    assert (card.sequence, card.credit, card.cumulative) == (1, D("20.00"), D("20.00"))
    register = cd.MeterRegister(METER)
    register, cleared, loaded = cd.meter_accept(register, card, key=KEY)
    assert loaded == D("20.00") and register.balance == D("20.00") and cleared.credit == 0
    # the same card inserted again, or an old copy of it: nothing more
    for again in (cleared, card):
        register, _, loaded = cd.meter_accept(register, again, key=KEY)
        assert loaded == 0 and register.balance == D("20.00")


def test_unloaded_credit_adds_up_on_the_card():
    device = new_device()
    buy(device, 1, "10.00")
    buy(device, 2, "5.50")
    card = device.read()
    assert (card.sequence, card.credit, card.cumulative) == (2, D("15.50"), D("15.50"))
    register, _, loaded = cd.meter_accept(cd.MeterRegister(METER), card, key=KEY)
    assert loaded == D("15.50") and register.last_sequence == 2


def test_a_write_that_failed_before_writing_is_written_on_the_retry():
    device = new_device()
    device.fail_next_write()
    with pytest.raises(cd.CardWriteFailed):
        buy(device, 1, "30.00")
    assert device.read().sequence == 0 and device.writes == 0
    outcome = buy(device, 1, "30.00")
    assert outcome.written and device.writes == 1 and device.read().credit == D("30.00")


def test_a_write_that_landed_but_was_reported_failed_is_not_written_again():
    device = new_device()
    device.fail_next_write(after_writing=True)
    with pytest.raises(cd.CardWriteFailed):
        buy(device, 1, "30.00")
    outcome = buy(device, 1, "30.00")  # the clerk presses "re-write card"
    assert not outcome.written and device.writes == 1
    assert outcome.explanation == "purchase 1 is already on the card; nothing written"
    register, _, loaded = cd.meter_accept(cd.MeterRegister(METER), device.read(), key=KEY)
    assert loaded == D("30.00")


def test_a_rewrite_after_the_meter_loaded_the_card_writes_nothing():
    device = new_device()
    buy(device, 1, "8.00")
    register, cleared, _ = cd.meter_accept(cd.MeterRegister(METER), device.read(), key=KEY)
    device.insert(cleared)
    assert not buy(device, 1, "8.00").written
    assert cd.meter_accept(register, device.read(), key=KEY)[2] == 0


def test_next_purchase_refuses_a_sequence_already_on_the_card_and_a_gap():
    card = cd.seal(card_no=CARD, meter_serial=METER, sequence=3, credit=D("0.00"), cumulative=D("9.00"), key=KEY)
    assert cd.is_already_written(card, 3) and cd.is_already_written(card, 1) and not cd.is_already_written(card, 4)
    with pytest.raises(cd.CardSequenceError, match="already on the card"):
        cd.next_purchase(card, volume=D("1.00"), sequence=3, key=KEY)
    with pytest.raises(cd.CardSequenceError, match="purchase 4 was never written"):
        cd.next_purchase(card, volume=D("1.00"), sequence=5, key=KEY)
    assert cd.next_purchase(card, volume=D("1.00"), sequence=4, key=KEY).cumulative == D("10.00")


@pytest.mark.parametrize("volume", [D("0"), D("-1.00"), D("1.005"), D("NaN")])
def test_next_purchase_refuses_a_bad_volume(volume):
    card = cd.blank_card(card_no=CARD, meter_serial=METER, key=KEY)
    with pytest.raises(DomainError):
        cd.next_purchase(card, volume=volume, sequence=1, key=KEY)


def test_no_card_and_a_card_of_another_meter_are_refused():
    device = new_device()
    device.remove()
    with pytest.raises(cd.NoCard):
        buy(device, 1, "1.00")
    device.insert_card_of_another_meter(meter_serial="WM2026000999", card_no=CARD)
    with pytest.raises(cd.WrongCard, match="belongs to meter WM2026000999"):
        buy(device, 1, "1.00")
    assert device.writes == 0
    with pytest.raises(cd.WrongCard):
        cd.meter_accept(cd.MeterRegister(METER), device.read(), key=KEY)


def test_a_card_swapped_between_read_and_write_is_not_written():
    device = new_device()
    image = cd.next_purchase(device.read(), volume=D("5.00"), sequence=1, key=KEY)
    device.insert(cd.blank_card(card_no="8801000000000099", meter_serial=METER, key=KEY))
    with pytest.raises(cd.WrongCard):
        device.write(image)
    assert device.read().sequence == 0


def test_the_simulated_device_satisfies_the_driver_protocol():
    device: cd.CardDevice = new_device()
    assert device.read().card_no == CARD


FAILURES = st.sampled_from(["ok", "before", "after"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.decimals(min_value=D("0.01"), max_value=D("500.00"), places=2),
                          st.lists(FAILURES, max_size=4), st.booleans()), min_size=1, max_size=8))
def test_whatever_fails_every_purchase_is_loaded_exactly_once(purchases):
    """Each purchase is retried until a write succeeds; sometimes the customer loads the meter in
    between. The meter ends with exactly the sum bought, and the card's cumulative agrees."""
    device = new_device()
    register = cd.MeterRegister(METER)
    for sequence, (volume, failures, load_now) in enumerate(purchases, start=1):
        for failure in failures:
            if failure == "ok" or cd.is_already_written(device.read(), sequence):
                break  # a write that is not attempted cannot fail
            device.fail_next_write(after_writing=failure == "after")
            with pytest.raises(cd.CardWriteFailed):
                cd.load_purchase(device, sequence=sequence, volume=volume, key=KEY, meter_serial=METER)
        cd.load_purchase(device, sequence=sequence, volume=volume, key=KEY, meter_serial=METER)
        # a nervous clerk re-writes once more: never a second credit
        assert not cd.load_purchase(device, sequence=sequence, volume=volume, key=KEY, meter_serial=METER).written
        if load_now:
            register, cleared, _ = cd.meter_accept(register, device.read(), key=KEY)
            device.insert(cleared)
    register, _, _ = cd.meter_accept(register, device.read(), key=KEY)
    total = sum((v for v, _, _ in purchases), D("0.00"))
    assert register.balance == total == device.read().cumulative
    assert register.last_sequence == len(purchases)
