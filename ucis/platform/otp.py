"""TOTP second factor for staff (ORG-5): enrol with a QR code, confirm with a code, remove."""

from __future__ import annotations

from typing import Any

import segno
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from ucis.platform.audit import audit_context


def totp_state(*, user: Any) -> dict[str, Any]:
    """The user's device, creating an unconfirmed one (with its QR code) when none exists."""
    device = TOTPDevice.objects.filter(user=user).order_by("-confirmed", "id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="default", confirmed=False)
    qr_svg = None
    if not device.confirmed:
        qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=4)
    return {"device": device, "confirmed": device.confirmed, "config_url": device.config_url,
            "secret_b32": _b32(device.bin_key), "qr_svg": qr_svg}


def _b32(key: bytes) -> str:
    import base64

    return base64.b32encode(key).decode().rstrip("=")


def totp_confirm(*, user: Any, token: str) -> bool:
    with transaction.atomic(), audit_context(actor=user, reason="enrol TOTP", source="web"):
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None or not device.verify_token(token.strip()):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    return True


def totp_remove(*, user: Any) -> None:
    with audit_context(actor=user, reason="remove TOTP", source="web"):
        TOTPDevice.objects.filter(user=user).delete()
