"""Remote reads over MQTT against the real broker (127.0.0.1:1883): stored once whatever the broker
redelivers, bad messages kept as dead letters with the reason, the consumer carrying on."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date
from decimal import Decimal

import pytest

from ucis.metering import ingest
from ucis.metering.ingest import Message, parse_message, reads_ingest
from ucis.metering.models import MeterRead, MqttDeadLetter

from .conftest import TODAY

HOST, PORT = "127.0.0.1", 1883


def _broker_up() -> bool:
    import socket

    try:
        socket.create_connection((HOST, PORT), timeout=1).close()
        return True
    except OSError:
        return False


needs_broker = pytest.mark.skipif(not _broker_up(), reason="no MQTT broker on 127.0.0.1:1883")


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


# --- parsing ----------------------------------------------------------------------------------


def test_a_message_becomes_a_read_on_the_local_date():
    reads, bad = parse_message("ucis/reads/TW/WM00000",
                               body(read_at="2026-11-09T23:30:00Z", reading=123.456, msg_id="dev-7:1"))
    assert not bad
    (read,) = reads
    # 23:30 UTC is 07:30 the next morning in China.
    assert (read.meter, read.read_date, read.reading, read.external_ref) == (
        "WM00000", date(2026, 11, 10), "123.456", "dev-7:1")


def test_without_a_message_id_the_reference_is_meter_and_instant():
    reads, _ = parse_message("x", body(meter="WM1", read_at="2026-11-10T08:00:00+08:00", reading="5"))
    again, _ = parse_message("x", body(meter="WM1", read_at="2026-11-10T00:00:00+00:00", reading="5"))
    assert reads[0].external_ref == again[0].external_ref == "WM1@2026-11-10T08:00:00+08:00"
    by_day, _ = parse_message("x", body(meter="WM1", read_date="2026-11-10", reading="5"))
    assert by_day[0].external_ref == "WM1@2026-11-10" and by_day[0].read_date == date(2026, 11, 10)


def test_a_concentrator_batch_reports_each_bad_element_with_its_own_bytes():
    payload = json.dumps([{"meter": "A1", "read_date": "2026-11-10", "reading": "1"},
                          {"meter": "A2", "read_date": "2026-13-10", "reading": "2"},
                          {"meter": "A3", "read_date": "2026-11-10"},
                          "nonsense"]).encode()
    reads, bad = parse_message("ucis/reads/TW/concentrator-9", payload)
    assert [r.meter for r in reads] == ["A1"]
    assert [(b.problem.field, b.problem.reason) for b in bad] == [
        ("[1].read_date", "2026-13-10 is not a date (YYYY-MM-DD)"),
        ("[2].reading", "the message has no reading"),
        ("[3]", "a read message is a JSON object or an array of objects")]
    assert json.loads(bad[0].payload)["meter"] == "A2" and bad[2].payload == b'"nonsense"'


@pytest.mark.parametrize(("payload", "reason"), [
    (b"", "payload: the message is empty"),
    (b"\xff\xfe", "payload: the message is not UTF-8 text"),
    (b"{not json", "payload: the message is not valid JSON: Expecting property name enclosed in double quotes: "
                   "line 1 column 2 (char 1)"),
    (b"[]", "payload: the message is an empty array"),
    (b'{"read_date": "2026-11-10", "reading": "1"}', "meter: the message names no meter (in the body or the topic)"),
    (b'{"meter": "A", "reading": "1"}', "read_at: the message has neither read_at nor read_date"),
    (b'{"meter": "A", "reading": true, "read_date": "2026-11-10"}',
     "reading: the reading must be a number or a string, not true"),
    (b'{"meter": "A", "reading": "1", "read_at": "yesterday"}',
     "read_at: yesterday is not a date and time (ISO 8601, e.g. 2026-11-10T08:00:00+08:00)"),
    (b'{"meter": "A", "reading": "1", "read_at": "2026-11-10T01:00:00+08:00", "read_date": "2026-11-09"}',
     "read_date: read_at 2026-11-10T01:00:00+08:00 falls on 2026-11-10 in China, not on read_date 2026-11-09"),
    (json.dumps({"meter": "A", "reading": "1", "read_date": "2026-11-10", "msg_id": "m" * 121}).encode(),
     "msg_id: the message id is longer than 120 characters"),
])
def test_malformed_messages_are_explained(payload, reason):
    reads, bad = parse_message("ucis/reads/TW", payload)
    assert reads == [] and [b.reason for b in bad] == [reason]


def test_the_topic_names_the_meter_only_in_its_place():
    assert ingest.topic_serial("ucis/reads/TW/WM00000") == "WM00000"
    assert ingest.topic_serial("plant/7/reads/TW/WM9") == "WM9"
    assert ingest.topic_serial("ucis/reads/TW") is None
    assert ingest.topic_serial("ucis/reads/TW/WM1/extra") is None


# --- storing a batch (no broker) --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_stores_reads_once_and_keeps_the_rest_as_dead_letters(site):
    good = Message("ucis/reads/TW/WM00000", body(read_date="2025-02-05", reading="12.5", msg_id="d1"))
    batch = [good,
             Message("ucis/reads/TW/WM00001", body(read_date="2025-02-05", reading="7", msg_id="d2")),
             good,  # the device sent it twice
             Message("ucis/reads/TW/NOPE", body(read_date="2025-02-05", reading="7", msg_id="d3")),
             Message("ucis/reads/TW/WM00002", b"{oops")]
    result = reads_ingest(batch, today=TODAY)
    assert (result.stored, result.duplicates, result.dead_letters) == (2, 1, 2)
    read = MeterRead.objects.get(meter__serial="WM00000")
    assert (read.source, read.external_ref, read.reading, read.usage) == ("remote", "d1", Decimal("12.5"),
                                                                           Decimal("12.5"))
    letters = {d.topic: d for d in MqttDeadLetter.objects.all()}
    assert letters["ucis/reads/TW/NOPE"].reason == "meter: there is no meter NOPE in your area (message d3)"
    assert bytes(letters["ucis/reads/TW/NOPE"].payload) == batch[3].payload
    assert letters["ucis/reads/TW/WM00002"].reason.startswith("payload: the message is not valid JSON")
    again = reads_ingest(batch[:2], today=TODAY)
    assert (again.stored, again.duplicates) == (0, 2) and MeterRead.objects.count() == 2


@pytest.mark.django_db
def test_recorder_refusals_in_a_concentrator_batch_name_the_element(site):
    payload = json.dumps([{"meter": "WM00000", "read_date": "2025-02-05", "reading": "12.5"},
                          {"meter": "WM00001", "read_date": "2025-02-05", "reading": "1234567"},
                          {"meter": "WM00002", "read_date": "2026-12-01", "reading": "3"}]).encode()
    result = reads_ingest([Message("ucis/reads/TW/c-1", payload)], today=TODAY)
    assert (result.stored, result.dead_letters) == (1, 2)
    letters = sorted(MqttDeadLetter.objects.values_list("reason", "payload"))
    assert letters[0][0] == ("[1].reading: the reading 1234567 does not fit a 5-digit dial "
                             "(message WM00001@2025-02-05)")
    assert json.loads(bytes(letters[0][1])) == {"meter": "WM00001", "read_date": "2025-02-05", "reading": "1234567"}
    assert letters[1][0].startswith("[2].read_date: the read date 2026-12-01 is in the future")


@pytest.mark.django_db
def test_a_redelivered_bad_message_is_not_dead_lettered_twice(site):
    bad = Message("ucis/reads/TW/NOPE", body(read_date="2025-02-05", reading="7", msg_id="d3"))
    reads_ingest([bad], today=TODAY)
    assert reads_ingest([Message(bad.topic, bad.payload, dup=True)], today=TODAY).dead_letters == 0
    assert MqttDeadLetter.objects.count() == 1


# --- against the broker -----------------------------------------------------------------------


def _mqtt():
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    return mqtt, CallbackAPIVersion.VERSION2


def publish(topic: str, payloads: list[bytes]) -> None:
    mqtt, version = _mqtt()
    client = mqtt.Client(version, client_id=f"ucis-test-pub-{uuid.uuid4().hex[:8]}")
    client.connect(HOST, PORT)
    client.loop_start()
    try:
        infos = [client.publish(topic, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(timeout=5)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def forget_session(client_id: str) -> None:
    """Drop the test's persistent session from the shared broker."""
    mqtt, version = _mqtt()
    client = mqtt.Client(version, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect(HOST, PORT, clean_start=True)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def feed():
    """A topic root and a client id of the test's own, so tests never see each other's messages."""
    tag = uuid.uuid4().hex[:10]
    client_id = f"ucis-test-ingest-{tag}"
    yield f"ucis-test/{tag}/reads", client_id
    forget_session(client_id)


def start(consumer: ingest.ReadConsumer) -> threading.Thread:
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    assert consumer.subscribed.wait(10), "the consumer did not subscribe"
    return thread


def finish(consumer: ingest.ReadConsumer, thread: threading.Thread, timeout: float = 20) -> None:
    thread.join(timeout)
    if thread.is_alive():
        consumer.stop()
        thread.join(5)
        pytest.fail("the consumer did not finish")


def consumer_for(feed, **kw) -> ingest.ReadConsumer:
    root, client_id = feed
    kw.setdefault("batch_wait", 0.1)
    kw.setdefault("idle_exit", 8)
    return ingest.ReadConsumer(host=HOST, port=PORT, topic=f"{root}/#", client_id=client_id,
                               today=lambda: TODAY, **kw)


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_reads_published_to_the_broker_are_stored(site, feed):
    root, _ = feed
    consumer = consumer_for(feed, max_messages=3)
    thread = start(consumer)
    publish(f"{root}/TW/WM00000", [body(read_at="2025-02-05T09:00:00+08:00", reading="12.5", msg_id="a1")])
    publish(f"{root}/TW/c-1", [json.dumps([{"meter": "WM00001", "read_date": "2025-02-05", "reading": 3},
                                           {"meter": "WM00002", "read_date": "2025-02-05", "reading": 4}]).encode(),
                               body(meter="WM00000", read_date="2025-02-05", reading="12.5", msg_id="a1")])
    finish(consumer, thread)
    assert consumer.stats.acked == 3
    assert (consumer.stats.totals.stored, consumer.stats.totals.duplicates) == (3, 1)
    assert sorted(MeterRead.objects.values_list("meter__serial", "reading", "source")) == [
        ("WM00000", Decimal("12.5"), "remote"), ("WM00001", Decimal(3), "remote"), ("WM00002", Decimal(4), "remote")]


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_bad_messages_become_dead_letters_and_the_consumer_carries_on(site, feed):
    root, _ = feed
    consumer = consumer_for(feed, max_messages=4, batch=1)  # one message per batch: each its own commit
    thread = start(consumer)
    publish(f"{root}/TW/WM00000", [b"\x00garbage", body(read_date="2025-02-05", reading="1", msg_id="b1")])
    publish(f"{root}/TW/XX999", [body(read_date="2025-02-05", reading="1", msg_id="b2")])
    publish(f"{root}/TW/WM00001", [body(read_date="2025-02-05", reading="2", msg_id="b3")])
    finish(consumer, thread)
    assert consumer.stats.acked == 4 and consumer.stats.totals.stored == 2
    assert sorted(MeterRead.objects.values_list("external_ref", flat=True)) == ["b1", "b3"]
    reasons = dict(MqttDeadLetter.objects.values_list("topic", "reason"))
    assert reasons[f"{root}/TW/WM00000"].startswith("payload: the message is not valid JSON")
    assert reasons[f"{root}/TW/XX999"] == "meter: there is no meter XX999 in your area (message b2)"


class CrashBeforeAck(ingest.ReadConsumer):
    """Commits the batch, then stops without acknowledging it — as if killed at the worst moment."""

    def _ack(self, pending):
        self.stats.acked += len(pending)


class Recording(ingest.ReadConsumer):
    def _store(self, pending):
        self.dups = [*getattr(self, "dups", []), *(d.message.dup for d in pending)]
        super()._store(pending)


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_messages_redelivered_after_a_crash_are_stored_once(site, feed):
    root, _ = feed
    crashed = CrashBeforeAck(host=HOST, port=PORT, topic=f"{root}/#", client_id=feed[1], batch_wait=0.3,
                             max_messages=2, idle_exit=8, today=lambda: TODAY)
    thread = start(crashed)
    publish(f"{root}/TW/WM00000", [body(read_date="2025-02-05", reading="12.5", msg_id="c1")])
    publish(f"{root}/TW/WM00001", [body(read_date="2025-02-05", reading="3", msg_id="c2")])
    finish(crashed, thread)
    assert crashed.stats.totals.stored == 2 and MeterRead.objects.count() == 2

    # Same client id, persistent session: the broker delivers the unacknowledged messages again.
    restarted = Recording(host=HOST, port=PORT, topic=f"{root}/#", client_id=feed[1], batch_wait=0.3,
                          max_messages=2, idle_exit=8, today=lambda: TODAY)
    thread = threading.Thread(target=restarted.run, daemon=True)
    thread.start()
    finish(restarted, thread)
    assert restarted.stats.received == 2 and restarted.dups == [True, True]
    assert (restarted.stats.totals.stored, restarted.stats.totals.duplicates) == (0, 2)
    assert MeterRead.objects.count() == 2

    # Acknowledged now: a third run gets nothing.
    third = consumer_for(feed, idle_exit=1.5)
    thread = threading.Thread(target=third.run, daemon=True)
    thread.start()
    finish(third, thread)
    assert third.stats.received == 0


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_messages_published_while_the_consumer_is_down_are_delivered(site, feed):
    root, _ = feed
    first = consumer_for(feed, idle_exit=0.5)
    finish(first, start(first))  # creates the session and its subscription, then goes away
    publish(f"{root}/TW/WM00002", [body(read_date="2025-02-05", reading="9", msg_id="q1")])
    later = consumer_for(feed, max_messages=1)
    thread = threading.Thread(target=later.run, daemon=True)
    thread.start()
    finish(later, thread)
    assert MeterRead.objects.get().external_ref == "q1"


# --- failures: the database, the broker, the command ------------------------------------------------


@pytest.mark.django_db
def test_a_database_outage_keeps_the_batch_and_retries(site, monkeypatch):
    from django.db import OperationalError

    consumer = ingest.ReadConsumer(today=lambda: TODAY)
    consumer._stop.wait = lambda delay: False  # no real sleeping between attempts
    calls = []
    real = ingest.reads_ingest

    def flaky(messages, **kw):
        calls.append(len(messages))
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return real(messages, **kw)

    monkeypatch.setattr(ingest, "reads_ingest", flaky)
    batch = [ingest._Delivery(Message("t/reads/TW/WM00000", body(read_date="2025-02-05", reading="5", msg_id="r1")),
                              mid=1, qos=1, generation=0)]
    consumer._store(batch)
    assert calls == [1, 1, 1] and consumer.stats.retries == 2 and consumer.stats.totals.stored == 1
    assert MeterRead.objects.get().external_ref == "r1"


@pytest.mark.django_db
def test_a_message_the_database_refuses_is_isolated_and_dead_lettered(site, monkeypatch):
    from django.db import DataError

    consumer = ingest.ReadConsumer(today=lambda: TODAY)
    real = ingest.reads_ingest

    def picky(messages, **kw):
        if any(b"poison" in m.payload for m in messages):
            raise DataError("value out of range")
        return real(messages, **kw)

    monkeypatch.setattr(ingest, "reads_ingest", picky)
    payloads = [body(read_date="2025-02-05", reading="5", msg_id=f"s{n}") for n in range(3)]
    payloads.insert(1, body(read_date="2025-02-05", reading="5", msg_id="poison"))
    serials = ["WM00000", "WM00001", "WM00001", "WM00002"]
    consumer._store([ingest._Delivery(Message(f"t/reads/TW/{s}", p), mid=n, qos=1, generation=0)
                     for n, (s, p) in enumerate(zip(serials, payloads, strict=True))])
    assert sorted(MeterRead.objects.values_list("external_ref", flat=True)) == ["s0", "s1", "s2"]
    letter = MqttDeadLetter.objects.get()
    assert letter.reason == "could not be stored: DataError: value out of range" and b"poison" in bytes(letter.payload)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_broker(tmp_path):
    """A Mosquitto of the test's own (persistent), to stop and start at will."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not shutil.which(binary):
        pytest.skip("no mosquitto binary")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {tmp_path}/\n")
    procs = []

    def start():
        procs.append(subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail("mosquitto did not start")

    def stop():
        procs[-1].terminate()
        procs[-1].wait(10)

    yield port, start, stop
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_consumer_waits_for_the_broker_and_survives_its_restart(site, own_broker):
    import time

    port, start_broker, stop_broker = own_broker

    def send(msg_id, serial):
        mqtt, version = _mqtt()
        client = mqtt.Client(version, client_id=f"ucis-test-pub-{msg_id}")
        client.connect(HOST, port)
        client.loop_start()
        client.publish(f"ucis/reads/TW/{serial}", body(read_date="2025-02-05", reading="5", msg_id=msg_id),
                       qos=1).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()

    consumer = ingest.ReadConsumer(host=HOST, port=port, client_id="ucis-test-restart", max_messages=2,
                                   idle_exit=20, batch_wait=0.05, today=lambda: TODAY)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()  # before the broker is up: it keeps trying
    time.sleep(1.5)
    assert not consumer.connected.is_set()
    start_broker()
    assert consumer.subscribed.wait(15)
    send("before", "WM00000")
    deadline = time.monotonic() + 10
    while consumer.stats.acked < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert consumer.stats.acked == 1

    stop_broker()
    time.sleep(0.5)
    assert not consumer.connected.is_set()
    start_broker()
    assert consumer.subscribed.wait(40), "the consumer did not come back after the broker restarted"
    send("after", "WM00001")
    finish(consumer, thread, timeout=20)
    assert sorted(MeterRead.objects.values_list("external_ref", flat=True)) == ["after", "before"]


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_the_command_stores_reads_and_prints_the_counts(site, feed, capsys):
    from django.core.management import call_command

    root, client_id = feed
    # The session must exist before the message is published, as in production.
    forget = consumer_for(feed, idle_exit=0.3)
    finish(forget, start(forget))
    publish(f"{root}/TW/WM00001", [body(read_date="2025-02-05", reading="3", msg_id="cmd-1"), b"nope"])
    call_command("ingest_mqtt", "--topic", f"{root}/#", "--client-id", client_id, "--max-messages", "2",
                 "--idle-exit", "10")
    assert "messages=2 stored=1 duplicates=0 dead_letters=1" in capsys.readouterr().out
    assert MeterRead.objects.get().external_ref == "cmd-1"
