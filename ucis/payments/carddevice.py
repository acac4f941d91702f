"""Prepaid IC-card meters (BIL-5): the card image, the card-device driver protocol, a simulated
device, and the rules that make a re-write after a failed write safe. Pure.

How credit moves: a purchase gets the next purchase sequence number of the card (1, 2, 3 …);
the counter writes the card (上量) with the new sequence, the credit to load (added to any credit
still on the card) and the cumulative volume bought; the customer inserts the card in the meter,
which loads the credit **only if the card's sequence is above the last one it accepted**, then
clears the card's credit. So a card written twice with the same purchase, or an old copy of a card,
never loads credit twice.

A failed write is retried with the *same* sequence: ``is_already_written`` tells from the card
whether that purchase reached it (a write can fail after the bytes landed), and ``next_purchase``
refuses a sequence that is already on the card. ``load_purchase`` does the whole re-write.

Card image (64 bytes, big-endian)::

    0  "UC"  magic          20 meter serial (16 ASCII, space padded)   44 cumulative (u64, 0.01)
    2  version (1)          36 sequence (u32)                          52 reserved (4 zero bytes)
    3  flags (0)            40 credit to load (u32, 0.01 units)        56 MAC (8 bytes)
    4  card number (16 ASCII digits, space padded)

The MAC is HMAC-SHA256 over bytes 0–55 with the company's card key, truncated to 8 bytes: a card
changed by anyone without the key is detected (``CardTampered``).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from ucis.kernel.errors import DomainError, render_reason
from ucis.kernel.errors import gettext_noop as _

MAGIC = b"UC"
VERSION = 1
SIZE = 64
UNIT = Decimal("0.01")
_BODY = struct.Struct(">2sBB16s16sIIQ4x")  # 56 bytes
MAX_CREDIT = Decimal(2 ** 32 - 1) * UNIT
MAX_CUMULATIVE = Decimal(2 ** 64 - 1) * UNIT


class CardError(DomainError):
    """A card could not be used; ``field`` is ``card``."""

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__("card", reason, **params)


class NoCard(CardError):
    pass


class CardWriteFailed(CardError):
    """The write did not complete. The card may or may not hold the new image: read it again."""


class CardTampered(CardError):
    pass


class WrongCard(CardError):
    pass


class CardSequenceError(CardError):
    pass


@dataclass(frozen=True)
class CardImage:
    card_no: str
    meter_serial: str
    sequence: int  # the last purchase written to this card
    credit: Decimal  # volume waiting to be loaded into the meter
    cumulative: Decimal  # all volume ever bought on this card
    mac: bytes

    def body(self) -> bytes:
        return _body(self.card_no, self.meter_serial, self.sequence, self.credit, self.cumulative)

    def to_bytes(self) -> bytes:
        return self.body() + self.mac


def _units(value: Decimal, name: str, maximum: Decimal) -> int:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0 or value > maximum \
            or value != value.quantize(UNIT):
        raise DomainError(name, _("a volume is 0 or more with at most two decimals, not %(value)s"),
                          value=str(value))
    return int(value / UNIT)


def _ascii16(value: str, name: str, *, digits: bool) -> bytes:
    ok = 0 < len(value) <= 16 and value.isascii() and (value.isdigit() if digits else value.isalnum())
    if not ok and digits:
        raise DomainError(name, _("must be 1–16 digits, not %(value)s"), value=value)
    if not ok:
        raise DomainError(name, _("must be 1–16 letters or digits, not %(value)s"), value=value)
    return value.encode("ascii").ljust(16, b" ")


def _body(card_no: str, meter_serial: str, sequence: int, credit: Decimal, cumulative: Decimal) -> bytes:
    if not 0 <= sequence < 2 ** 32:
        raise DomainError("sequence", _("a purchase sequence is 0 … 4294967295"))
    return _BODY.pack(MAGIC, VERSION, 0, _ascii16(card_no, "card_no", digits=True),
                      _ascii16(meter_serial, "meter_serial", digits=False), sequence,
                      _units(credit, "credit", MAX_CREDIT), _units(cumulative, "cumulative", MAX_CUMULATIVE))


def _mac(body: bytes, key: bytes) -> bytes:
    if len(key) < 16:
        raise ValueError("the card key must be at least 16 bytes")
    return hmac.new(key, body, hashlib.sha256).digest()[:8]


def seal(*, card_no: str, meter_serial: str, sequence: int, credit: Decimal, cumulative: Decimal,
         key: bytes) -> CardImage:
    """A card image with its MAC."""
    body = _body(card_no, meter_serial, sequence, credit, cumulative)
    return CardImage(card_no, meter_serial, sequence, credit, cumulative, _mac(body, key))


def blank_card(*, card_no: str, meter_serial: str, key: bytes) -> CardImage:
    """A newly issued card (开卡) bound to one meter: nothing bought yet."""
    return seal(card_no=card_no, meter_serial=meter_serial, sequence=0, credit=Decimal("0.00"),
                cumulative=Decimal("0.00"), key=key)


def verify_image(image: CardImage, *, key: bytes) -> CardImage:
    if not hmac.compare_digest(image.mac, _mac(image.body(), key)):
        raise CardTampered(_("the card's check code does not match: the card was altered or is from another "
                             "company"))
    return image


def read_image(data: bytes, *, key: bytes) -> CardImage:
    """The image stored in a card's 64 bytes, checked against the company key."""
    if len(data) != SIZE:
        raise CardTampered(_("the card holds %(size)s bytes, not a card image"), size=len(data))
    magic, version, _flags, card_no, meter, sequence, credit, cumulative = _BODY.unpack(data[:_BODY.size])
    if magic != MAGIC or version != VERSION:
        raise CardTampered(_("this is not a card of this system (or of another format version)"))
    if not hmac.compare_digest(data[_BODY.size:], _mac(data[:_BODY.size], key)):
        raise CardTampered(_("the card's check code does not match: the card was altered or is from another "
                             "company"))
    try:
        return CardImage(card_no.decode("ascii").rstrip(), meter.decode("ascii").rstrip(), sequence,
                         Decimal(credit) * UNIT, Decimal(cumulative) * UNIT, data[_BODY.size:])
    except UnicodeDecodeError as exc:
        raise CardTampered(_("this is not a card of this system (or of another format version)")) from exc


def is_already_written(card: CardImage, sequence: int) -> bool:
    """Purchase ``sequence`` is already on the card (the write went through, even if reported failed)."""
    return card.sequence >= sequence


def check_card(card: CardImage, *, meter_serial: str, card_no: str | None = None) -> None:
    if card.meter_serial != meter_serial:
        raise WrongCard(_("this card belongs to meter %(card)s, not %(meter)s"), card=card.meter_serial,
                        meter=meter_serial)
    if card_no is not None and card.card_no != card_no:
        raise WrongCard(_("this is card %(card)s, the account's card is %(expected)s"), card=card.card_no,
                        expected=card_no)


def next_purchase(card: CardImage, *, volume: Decimal, sequence: int, key: bytes,
                  meter_serial: str | None = None) -> CardImage:
    """The image to write for purchase ``sequence`` of ``volume`` onto ``card`` (as read).

    Refuses a sequence already on the card (check ``is_already_written`` first: that purchase is
    done) and a gap (an earlier purchase was never written: re-write that one first)."""
    verify_image(card, key=key)
    if meter_serial is not None:
        check_card(card, meter_serial=meter_serial)
    if _units(volume, "volume", MAX_CREDIT) == 0:
        raise DomainError("volume", _("the volume must be more than zero"))
    if is_already_written(card, sequence):
        raise CardSequenceError(_("purchase %(sequence)s is already on the card (the card is at %(card)s): "
                                  "it must not be written again"), sequence=sequence, card=card.sequence)
    if sequence != card.sequence + 1:
        raise CardSequenceError(_("the card is at purchase %(card)s; purchase %(missing)s was never written, "
                                  "re-write it before purchase %(sequence)s"), card=card.sequence,
                                missing=card.sequence + 1, sequence=sequence)
    return seal(card_no=card.card_no, meter_serial=card.meter_serial, sequence=sequence,
                credit=card.credit + volume, cumulative=card.cumulative + volume, key=key)


@dataclass(frozen=True)
class WriteOutcome:
    written: bool  # False: the purchase was already on the card, nothing written
    card: CardImage  # the card as it now is
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def explanation(self) -> str:
        return render_reason(self.template, self.params)


def load_purchase(device: CardDevice, *, sequence: int, volume: Decimal, key: bytes, meter_serial: str,
                  card_no: str | None = None) -> WriteOutcome:
    """Put purchase ``sequence`` on the card in ``device``: the first write and every re-write.

    Reads the card first; if the purchase is already there, writes nothing. Raises
    ``CardWriteFailed`` (retry later with the same sequence), ``NoCard``, ``WrongCard``,
    ``CardTampered``, ``CardSequenceError``."""
    card = device.read()
    check_card(card, meter_serial=meter_serial, card_no=card_no)
    if is_already_written(card, sequence):
        return WriteOutcome(False, card, _("purchase %(sequence)s is already on the card; nothing written"),
                            {"sequence": sequence})
    image = next_purchase(card, volume=volume, sequence=sequence, key=key)
    device.write(image)
    return WriteOutcome(True, image, _("purchase %(sequence)s written: %(credit)s to load into the meter"),
                        {"sequence": sequence, "credit": str(image.credit)})


# --- the meter side (what the meter does when the card is inserted), for tests and the demo ---------

@dataclass(frozen=True)
class MeterRegister:
    meter_serial: str
    last_sequence: int = 0
    balance: Decimal = Decimal("0.00")  # volume the meter may still deliver


def meter_accept(register: MeterRegister, card: CardImage, *, key: bytes) -> tuple[MeterRegister, CardImage, Decimal]:
    """The meter reads an inserted card: it loads the card's credit once per sequence number and
    clears the credit on the card. Returns (register, card, volume loaded)."""
    verify_image(card, key=key)
    check_card(card, meter_serial=register.meter_serial)
    if card.sequence <= register.last_sequence or card.credit == 0:
        return register, card, Decimal("0.00")
    loaded = card.credit
    cleared = seal(card_no=card.card_no, meter_serial=card.meter_serial, sequence=card.sequence,
                   credit=Decimal("0.00"), cumulative=card.cumulative, key=key)
    return replace(register, last_sequence=card.sequence, balance=register.balance + loaded), cleared, loaded


# --- devices ------------------------------------------------------------------------------------

class CardDevice(Protocol):
    """A card reader/writer driver (serial, USB or network). ``read`` raises ``NoCard`` or
    ``CardTampered``; ``write`` raises ``NoCard``, ``WrongCard`` (another card was put in) or
    ``CardWriteFailed`` (the card may or may not hold the new image)."""

    def read(self) -> CardImage: ...

    def write(self, image: CardImage) -> None: ...


class SimulatedCardDevice:
    """An in-memory card reader for tests and the demo. The card is stored as its 64 bytes."""

    def __init__(self, *, key: bytes, card: CardImage | None = None) -> None:
        self._key = key
        self._data: bytearray | None = bytearray(card.to_bytes()) if card else None
        self._fail: str | None = None
        self.writes = 0  # completed writes (including ones reported as failed after landing)

    # what the test or the demo tells the device
    def insert(self, card: CardImage | bytes) -> None:
        self._data = bytearray(card if isinstance(card, bytes) else card.to_bytes())

    def insert_card_of_another_meter(self, *, meter_serial: str, card_no: str = "9999000000000001") -> None:
        self.insert(blank_card(card_no=card_no, meter_serial=meter_serial, key=self._key))

    def remove(self) -> None:
        self._data = None

    def fail_next_write(self, *, after_writing: bool = False) -> None:
        """Make the next write fail; ``after_writing``: the bytes land but the device reports failure
        (the card was pulled out just before the acknowledgement)."""
        self._fail = "after" if after_writing else "before"

    def tamper(self, offset: int, value: int) -> None:
        assert self._data is not None
        self._data[offset] = value

    @property
    def raw(self) -> bytes | None:
        return None if self._data is None else bytes(self._data)

    # the driver protocol
    def read(self) -> CardImage:
        if self._data is None:
            raise NoCard(_("no card in the reader"))
        return read_image(bytes(self._data), key=self._key)

    def write(self, image: CardImage) -> None:
        if self._data is None:
            raise NoCard(_("no card in the reader"))
        present = bytes(self._data[4:20]).decode("ascii", "replace").rstrip()
        if present != image.card_no:
            raise WrongCard(_("this is card %(card)s, the account's card is %(expected)s"), card=present,
                            expected=image.card_no)
        fail, self._fail = self._fail, None
        if fail == "before":
            raise CardWriteFailed(_("the card write failed; nothing was written"))
        self._data = bytearray(image.to_bytes())
        self.writes += 1
        if fail == "after":
            raise CardWriteFailed(_("the card write was not confirmed"))
