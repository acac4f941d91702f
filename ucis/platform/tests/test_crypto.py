"""Field encryption (ORG-5): tokens at rest, plain text in Python, key rotation, keyed hashes."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.test.utils import isolate_apps
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ucis.platform import crypto
from ucis.platform.crypto import (
    DecryptionError,
    EncryptedFieldLookupError,
    EncryptedTextField,
    decrypt,
    encrypt,
    keyed_hash,
    mask,
    needs_rotation,
    rotate,
)

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
TABLE = "platform_test_secret_note"


# --- functions ----------------------------------------------------------------------------------


def test_configured_keys_are_valid_fernet_keys(settings):
    assert settings.UCIS_FIELD_KEYS, "UCIS_FIELD_KEYS must default to a derived development key"
    for key in settings.UCIS_FIELD_KEYS:
        Fernet(key)
    assert settings.UCIS_HASH_KEY
    assert settings.UCIS_HASH_KEY not in settings.UCIS_FIELD_KEYS


def test_round_trip():
    text = "张三 13812345678 \u00e9"
    token = encrypt(text)
    assert isinstance(token, str)
    assert text not in token and "13812345678" not in token
    assert decrypt(token) == text
    assert encrypt(text) != token, "each encryption is randomised"
    assert decrypt(encrypt("")) == ""


def test_encrypt_takes_text_only():
    with pytest.raises(TypeError):
        encrypt(b"bytes")  # type: ignore[arg-type]


def test_rotation(settings):
    settings.UCIS_FIELD_KEYS = [KEY_A]
    old = encrypt("secret")
    assert not needs_rotation(old)

    settings.UCIS_FIELD_KEYS = [KEY_B, KEY_A]
    assert decrypt(old) == "secret"
    assert needs_rotation(old)
    new = rotate(old)
    assert not needs_rotation(new)
    assert not needs_rotation(encrypt("fresh"))

    settings.UCIS_FIELD_KEYS = [KEY_B]
    assert decrypt(new) == "secret"
    with pytest.raises(DecryptionError, match="UCIS_FIELD_KEYS"):
        decrypt(old)


def test_empty_values_need_no_rotation():
    assert not needs_rotation(None)
    assert not needs_rotation("")


def test_tampered_or_foreign_tokens_raise_a_clear_error(settings):
    token = encrypt("secret")
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    for bad in (tampered, token[:-4], "not a token", "密文"):
        with pytest.raises(DecryptionError, match="altered"):
            decrypt(bad)
    assert needs_rotation(tampered)
    with pytest.raises(DecryptionError):
        rotate(tampered)

    settings.UCIS_FIELD_KEYS = [KEY_A]
    with pytest.raises(DecryptionError, match="not in UCIS_FIELD_KEYS"):
        decrypt(token)


def test_bad_key_configuration(settings):
    settings.UCIS_FIELD_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="UCIS_FIELD_KEYS"):
        encrypt("x")
    settings.UCIS_FIELD_KEYS = [KEY_A, "too-short"]
    with pytest.raises(ImproperlyConfigured, match=r"UCIS_FIELD_KEYS\[1\]") as excinfo:
        encrypt("x")
    assert "too-short" not in str(excinfo.value)
    settings.UCIS_HASH_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="UCIS_HASH_KEY"):
        keyed_hash("1", kind="phone")


def test_keyed_hash(settings):
    first = keyed_hash("13812345678", kind="phone")
    assert first == keyed_hash("13812345678", kind="phone")
    assert len(first) == 64 and int(first, 16) >= 0
    assert keyed_hash("13812345678", kind="id_number") != first
    assert keyed_hash("13812345679", kind="phone") != first
    # The kind separator keeps ("ab", "c") and ("a", "bc") apart.
    assert keyed_hash("c", kind="ab") != keyed_hash("bc", kind="a")
    with pytest.raises(ValueError):
        keyed_hash("1", kind="")

    settings.UCIS_HASH_KEY = "another secret"
    assert keyed_hash("13812345678", kind="phone") != first
    settings.UCIS_HASH_KEY = b"another secret"
    assert keyed_hash("13812345678", kind="phone") == keyed_hash("13812345678", kind="phone")


def test_mask():
    assert mask("13812345678") == "138****5678"
    assert mask("11010519491231002X", keep_start=6, keep_end=4) == "110105********002X"
    assert mask("") == ""
    assert mask("1234567") == "*******", "too short to show anything safely"
    assert mask("12345678") == "123*5678"
    assert mask("张三丰", keep_start=1, keep_end=0) == "张**"


# --- model field and command ---------------------------------------------------------------------


@pytest.fixture
def secret_model(db):
    """A model with an encrypted column, in the platform app, its table created for this test only.

    The table is created inside the test's transaction, so it disappears with the rollback; the model
    is removed from the app registry afterwards so that nothing else (migrations, other tests) sees it.
    """

    class Meta:
        app_label = "platform"
        db_table = TABLE

    model = type("SecretNote", (models.Model,), {
        "__module__": __name__,
        "Meta": Meta,
        "label": models.CharField(max_length=20, default=""),
        "note": EncryptedTextField(null=True, blank=True),
    })
    try:
        with connection.schema_editor() as editor:
            editor.create_model(model)
        yield model
    finally:
        apps.all_models["platform"].pop("secretnote", None)
        apps.clear_cache()


def raw_notes() -> dict[str, str | None]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT label, note FROM {TABLE}")
        return dict(cursor.fetchall())


def test_field_stores_tokens_and_reads_plain_text(secret_model):
    secret_model.objects.create(label="phone", note="13812345678")
    secret_model.objects.create(label="none", note=None)
    secret_model.objects.create(label="empty", note="")

    raw = raw_notes()
    assert raw["none"] is None
    assert raw["empty"] == "", "the empty string is stored as is (documented)"
    assert "13812345678" not in raw["phone"] and "12345678" not in raw["phone"]
    assert decrypt(raw["phone"]) == "13812345678"

    read = {n.label: n.note for n in secret_model.objects.all()}
    assert read == {"phone": "13812345678", "none": None, "empty": ""}
    assert secret_model.objects.values_list("note", flat=True).get(label="phone") == "13812345678"

    note = secret_model.objects.get(label="phone")
    note.note = "13900000000"
    note.save()
    assert decrypt(raw_notes()["phone"]) == "13900000000"
    secret_model.objects.filter(label="phone").update(note="13911111111")
    assert "13911111111" not in raw_notes()["phone"]
    assert secret_model.objects.get(label="phone").note == "13911111111"


def test_field_lookups_other_than_isnull_raise(secret_model):
    secret_model.objects.create(label="a", note="x")
    secret_model.objects.create(label="b", note=None)

    for lookup in ("note", "note__exact", "note__iexact", "note__in", "note__contains", "note__startswith",
                   "note__gt", "note__lower"):
        value = ["x"] if lookup.endswith("__in") else "x"
        with pytest.raises(EncryptedFieldLookupError, match=r"platform\.SecretNote\.note is encrypted.*keyed"):
            secret_model.objects.filter(**{lookup: value})

    assert list(secret_model.objects.filter(note__isnull=True).values_list("label", flat=True)) == ["b"]
    assert list(secret_model.objects.filter(note=None).values_list("label", flat=True)) == ["b"]
    assert list(secret_model.objects.exclude(note=None).values_list("label", flat=True)) == ["a"]


def test_field_deconstructs_for_migrations(secret_model):
    field = secret_model._meta.get_field("note")
    name, path, args, kwargs = field.deconstruct()
    assert (name, path, args) == ("note", "ucis.platform.crypto.EncryptedTextField", [])
    assert kwargs == {"null": True, "blank": True}
    rebuilt = EncryptedTextField(*args, **kwargs)
    assert rebuilt.deconstruct()[1:] == (path, args, kwargs)


@isolate_apps("ucis.platform")
def test_field_check_refuses_indexes():
    class Indexed(models.Model):
        note = EncryptedTextField(unique=True)

        class Meta:
            app_label = "platform"

        def __str__(self) -> str:
            return "indexed"

    errors = Indexed._meta.get_field("note").check()
    assert [e.id for e in errors] == ["platform.E101"]


def test_rotate_keys_command(secret_model, settings):
    settings.UCIS_FIELD_KEYS = [KEY_A]
    for i in range(5):
        secret_model.objects.create(label=f"n{i}", note=f"secret {i}")
    secret_model.objects.create(label="none", note=None)
    secret_model.objects.create(label="empty", note="")
    before = raw_notes()

    settings.UCIS_FIELD_KEYS = [KEY_B, KEY_A]
    out = io.StringIO()
    call_command("rotate_keys", "--dry-run", "--batch", "2", stdout=out)
    assert "platform.SecretNote: 5 of 7 rows to re-encrypt" in out.getvalue()
    assert raw_notes() == before, "a dry run changes nothing"

    out = io.StringIO()
    call_command("rotate_keys", "--batch", "2", stdout=out)
    assert "platform.SecretNote: 5 of 7 rows re-encrypted" in out.getvalue()
    after = raw_notes()
    assert after["none"] is None and after["empty"] == ""
    assert all(after[f"n{i}"] != before[f"n{i}"] for i in range(5))

    settings.UCIS_FIELD_KEYS = [KEY_B]  # the old key can now be dropped
    assert {n.label: n.note for n in secret_model.objects.filter(note__isnull=False)} == {
        **{f"n{i}": f"secret {i}" for i in range(5)}, "empty": ""}

    settings.UCIS_FIELD_KEYS = [KEY_B, KEY_A]
    out = io.StringIO()
    call_command("rotate_keys", stdout=out)
    assert "platform.SecretNote: 0 of 7 rows re-encrypted" in out.getvalue()
    assert raw_notes() == after, "a second run changes nothing"


def test_rotate_keys_reports_undecryptable_values(secret_model, settings):
    settings.UCIS_FIELD_KEYS = [KEY_A]
    secret_model.objects.create(label="ok", note="fine")
    secret_model.objects.create(label="lost", note="orphan")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET note = %s WHERE label = 'lost'",
                       [Fernet(KEY_B).encrypt(b"orphan").decode()])
    before = raw_notes()

    settings.UCIS_FIELD_KEYS = [Fernet.generate_key().decode(), KEY_A]
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 values could not be decrypted"):
        call_command("rotate_keys", stdout=out)
    assert "platform.SecretNote: 1 of 2 rows re-encrypted, 1 values undecryptable" in out.getvalue()
    after = raw_notes()
    assert after["lost"] == before["lost"] and after["ok"] != before["ok"]
    with pytest.raises(DecryptionError, match=r"platform\.SecretNote\.note"):
        list(secret_model.objects.all())


def test_key_cache_follows_settings(settings):
    settings.UCIS_FIELD_KEYS = [KEY_A]
    token = encrypt("x")
    settings.UCIS_FIELD_KEYS = [KEY_B]
    with pytest.raises(DecryptionError):
        decrypt(token)
    settings.UCIS_FIELD_KEYS = [KEY_A]
    assert decrypt(token) == "x"
    assert crypto._fernets.cache_info().currsize <= 8


@given(st.lists(st.text(max_size=40), max_size=30))
@hypothesis_settings(max_examples=60, deadline=None)
def test_encrypt_many_gives_fernet_tokens_of_the_current_key(texts):
    tokens = crypto.encrypt_many(texts)
    assert len(tokens) == len(texts)
    current = Fernet(settings.UCIS_FIELD_KEYS[0])
    assert [current.decrypt(t.encode()).decode() for t in tokens] == texts
    assert [crypto.decrypt(t) for t in tokens] == texts
    assert len(set(tokens)) == len(tokens)  # a fresh IV per value


def test_keyed_hash_many_equals_keyed_hash():
    values = ["13812345678", "", "11010519491231002X", "张三"]
    assert crypto.keyed_hash_many(values, kind="phone") == [crypto.keyed_hash(v, kind="phone") for v in values]
    with pytest.raises(ValueError):
        crypto.keyed_hash_many(values, kind="")
