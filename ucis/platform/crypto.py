"""Field encryption at rest (ORG-5): Fernet tokens in the database, plain text in Python.

Keys come from Django settings:

``UCIS_FIELD_KEYS``
    List of urlsafe-base64 32-byte Fernet keys. The first encrypts; every key decrypts, so a new
    key is put in front of the old ones and ``ucis rotate-keys`` re-encrypts the stored values,
    after which the old key can be dropped.
``UCIS_HASH_KEY``
    Secret of :func:`keyed_hash` (str or bytes). Encrypted columns cannot be searched; a model
    that needs exact search stores ``keyed_hash(normalised_value, kind=...)`` in an indexed
    column next to the encrypted one and filters on that. Changing this key means recomputing
    every stored hash, so it is not rotated like the field keys.

Fernet is AES-128-CBC with HMAC-SHA256: a tampered token or one from an unknown key raises
:class:`DecryptionError` instead of returning garbage.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import time
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.core import checks
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.db.models.lookups import Exact, IsNull
from django.dispatch import receiver

__all__ = [
    "DecryptionError",
    "EncryptedFieldLookupError",
    "EncryptedTextField",
    "decrypt",
    "encrypt",
    "keyed_hash",
    "mask",
    "needs_rotation",
    "rotate",
]


class DecryptionError(ValueError):
    """A stored token could not be decrypted: it was altered, or its key is not in UCIS_FIELD_KEYS."""


class EncryptedFieldLookupError(FieldError):
    """A query tried to compare or transform an encrypted column (only ``isnull`` is possible)."""


# --- keys ---------------------------------------------------------------------------------------


def _configured_field_keys() -> tuple[str | bytes, ...]:
    keys = getattr(settings, "UCIS_FIELD_KEYS", None)
    if isinstance(keys, str | bytes):
        keys = [keys]
    keys = tuple(k for k in (keys or ()) if k)
    if not keys:
        raise ImproperlyConfigured("UCIS_FIELD_KEYS is empty: set at least one Fernet key")
    return keys


@functools.lru_cache(maxsize=8)
def _fernets(keys: tuple[str | bytes, ...]) -> tuple[MultiFernet, Fernet]:
    """(all keys, the current key alone) for one value of UCIS_FIELD_KEYS."""
    fernets = []
    for position, key in enumerate(keys):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError) as exc:  # the key itself is never put in the message
            raise ImproperlyConfigured(
                f"UCIS_FIELD_KEYS[{position}] is not a Fernet key (32 bytes, urlsafe base64)") from exc
    return MultiFernet(fernets), fernets[0]


def _multi() -> MultiFernet:
    return _fernets(_configured_field_keys())[0]


def _current() -> Fernet:
    return _fernets(_configured_field_keys())[1]


def _hash_key() -> bytes:
    key = getattr(settings, "UCIS_HASH_KEY", None)
    if not key:
        raise ImproperlyConfigured("UCIS_HASH_KEY is not set")
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


@receiver(setting_changed)
def _clear_key_cache(*, setting: str, **kwargs: Any) -> None:
    if setting == "UCIS_FIELD_KEYS":
        _fernets.cache_clear()


# --- values ---------------------------------------------------------------------------------------


def _token_bytes(token: str) -> bytes:
    if not isinstance(token, str):
        raise TypeError(f"a token is a str, not {type(token).__name__}")
    return token.encode("utf-8")  # anything non-ASCII is not base64: Fernet rejects it as InvalidToken


def encrypt(text: str) -> str:
    """Encrypt ``text`` with the current key (the first of UCIS_FIELD_KEYS); the token as str."""
    if not isinstance(text, str):
        raise TypeError(f"encrypt() takes a str, not {type(text).__name__}")
    return _multi().encrypt(text.encode("utf-8")).decode("ascii")


def encrypt_many(texts: Sequence[str]) -> list[str]:
    """``[encrypt(t) for t in texts]`` for a city-sized load: the same Fernet tokens (version,
    timestamp, random IV, AES-128-CBC, HMAC-SHA256), but the AES work of all values runs as one
    ECB call per block position — CBC is ``E(P_j xor C_j-1)``, so chaining is done here and each
    cipher call covers every value's j-th block. ``Fernet`` itself costs a cipher context per value."""
    key = base64.urlsafe_b64decode(_configured_field_keys()[0])
    signing, aes = key[:16], Cipher(algorithms.AES(key[16:]), modes.ECB()).encryptor()  # noqa: S305 (CBC built here)
    count = len(texts)
    ivs = os.urandom(16 * count)
    padded = []
    for text in texts:
        data = text.encode("utf-8")
        fill = 16 - len(data) % 16
        padded.append(data + bytes([fill]) * fill)
    previous = [ivs[16 * i:16 * i + 16] for i in range(count)]
    cipher_blocks: list[list[bytes]] = [[] for _ in range(count)]
    position = 0
    while True:
        active = [i for i in range(count) if len(padded[i]) > position]
        if not active:
            break
        mixed = b"".join((int.from_bytes(padded[i][position:position + 16], "big")
                          ^ int.from_bytes(previous[i], "big")).to_bytes(16, "big") for i in active)
        out = aes.update(mixed)
        for n, i in enumerate(active):
            block = out[16 * n:16 * n + 16]
            cipher_blocks[i].append(block)
            previous[i] = block
        position += 16
    header = b"\x80" + int(time.time()).to_bytes(8, "big")
    tokens = []
    for i in range(count):
        body = header + ivs[16 * i:16 * i + 16] + b"".join(cipher_blocks[i])
        tokens.append(base64.urlsafe_b64encode(body + hmac.digest(signing, body, "sha256")).decode("ascii"))
    return tokens


def keyed_hash_many(values: Sequence[str], *, kind: str) -> list[str]:
    """``[keyed_hash(v, kind=kind) for v in values]``, without the per-call checks."""
    keyed_hash("", kind=kind)  # validates kind and the key once
    key, prefix = _hash_key(), f"{kind}\x00".encode()
    return [hmac.digest(key, prefix + v.encode(), "sha256").hex() for v in values]


def decrypt(token: str) -> str:
    """The plain text of ``token``, tried with every key of UCIS_FIELD_KEYS."""
    try:
        return _multi().decrypt(_token_bytes(token)).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError(
            "cannot decrypt the value: it was altered, or it was encrypted with a key that is "
            "not in UCIS_FIELD_KEYS") from exc


def rotate(token: str) -> str:
    """``token`` re-encrypted with the current key (its timestamp kept; MultiFernet.rotate)."""
    try:
        return _multi().rotate(_token_bytes(token)).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError(
            "cannot rotate the value: it was altered, or it was encrypted with a key that is "
            "not in UCIS_FIELD_KEYS") from exc


def needs_rotation(token: str | None) -> bool:
    """True when ``token`` was not produced by the current key (an old key, or undecryptable).

    ``None`` and ``""`` (stored unencrypted by :class:`EncryptedTextField`) never need rotation.
    """
    if not token:
        return False
    try:
        _current().decrypt(_token_bytes(token))
    except InvalidToken:
        return True
    return False


def keyed_hash(value: str, *, kind: str) -> str:
    """HMAC-SHA256 (key UCIS_HASH_KEY) of ``kind + "\\x00" + value``, hex (64 characters).

    ``kind`` names the domain ("phone", "id_number", …) so that equal strings of different kinds
    hash differently. Callers normalise ``value`` first (digits only, upper case, …) and hash the
    search input the same way.
    """
    if not isinstance(value, str):
        raise TypeError(f"keyed_hash() takes a str, not {type(value).__name__}")
    if not kind or "\x00" in kind:
        raise ValueError("kind must be a non-empty name without NUL characters")
    message = f"{kind}\x00{value}".encode()
    return hmac.new(_hash_key(), message, hashlib.sha256).hexdigest()


def mask(value: str, *, keep_start: int = 3, keep_end: int = 4) -> str:
    """``value`` with all but its first ``keep_start`` and last ``keep_end`` characters as ``*``.

    ``mask("13812345678") == "138****5678"``; an 18-character ID number with ``keep_start=6`` gives
    ``"110105********002X"``. A value no longer than ``keep_start + keep_end`` is masked whole, so
    masking never shows everything.
    """
    if keep_start < 0 or keep_end < 0:
        raise ValueError("keep_start and keep_end cannot be negative")
    if not value:
        return ""
    hidden = len(value) - keep_start - keep_end
    if hidden <= 0:
        return "*" * len(value)
    return value[:keep_start] + "*" * hidden + value[len(value) - keep_end:]


# --- model field ------------------------------------------------------------------------------------


def _field_label(field: Any) -> str:
    model = getattr(field, "model", None)
    if model is not None:
        return f"{model._meta.label}.{field.name}"
    return str(getattr(field, "name", "") or "EncryptedTextField")


def _lookup_error(field: Any, lookup_name: str) -> EncryptedFieldLookupError:
    return EncryptedFieldLookupError(
        f"{_field_label(field)} is encrypted: the database holds ciphertext, so '__{lookup_name}' cannot "
        "work. Only '__isnull' (and '=None') is supported; search exact values through the field's "
        "keyed-hash column (ucis.platform.crypto.keyed_hash).")


class _NoneOnlyExact(Exact):
    """``field=None`` (which Django turns into ``IS NULL``); any other value is refused."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs is not None:
            raise _lookup_error(lhs.output_field, "exact")
        super().__init__(lhs, rhs)


class EncryptedTextField(models.TextField):
    """Text encrypted with Fernet in the column, plain text on the model instance.

    - ``None`` is stored as NULL and ``""`` as ``""`` — both unencrypted, so whether a value is
      empty is visible in the database; every other value is stored as a Fernet token (about
      100 + 4/3·len(UTF-8) characters), a new random token on each save.
    - The column cannot be searched, sorted or compared meaningfully: every lookup except
      ``isnull`` (and ``=None``) raises :class:`EncryptedFieldLookupError`. Exact search goes
      through a separate column holding :func:`keyed_hash` of the normalised value.
    - ``unique``, ``db_index`` and ``primary_key`` make no sense on ciphertext (system check).
    - Serialisation (dumpdata, ``value_to_string``) gives the plain text, like the model does.
    - Values are re-encrypted with a new key by ``ucis rotate-keys``.
    """

    description = "Text encrypted at rest (Fernet)"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        try:
            return decrypt(value)
        except DecryptionError as exc:
            raise DecryptionError(f"{_field_label(self)}: {exc}") from exc

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return IsNull
        if lookup_name == "exact":
            return _NoneOnlyExact
        raise _lookup_error(self, lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        raise _lookup_error(self, lookup_name)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        for option in ("primary_key", "unique", "db_index"):
            if getattr(self, option if option != "unique" else "_unique", False):
                errors.append(checks.Error(
                    f"EncryptedTextField cannot have {option}=True: every save stores a different "
                    "ciphertext, so the database cannot compare values.",
                    hint="Put a unique index on the keyed-hash column instead.",
                    obj=self, id="platform.E101"))
        return errors
