"""Metering benchmarks, one function per measurement.

    python bench/metering.py N [--only validation|mqtt] [--customers C] [--mqtt M]

``validation``: validate N reads straight from the database (one binary int8 row array per part
into numpy, bases and history baselines rebuilt, ``validate_reads``, flags counted) —
``reads_revalidate``. When the database holds fewer than N reads, the demo city is (re)generated
first with enough customers (about 28 reads per customer: 2.15 meters × 13 reads) and the reads
phase of that load is reported too. Uses DATABASE_URL (or the embedded database); the database is RESET when data is generated:
use a bench database. Target: 10,000,000 reads in ≤ 10 s (≥ 1,000,000 reads/s).

``mqtt``: remote reads over MQTT end to end (``--mqtt M`` messages, default 20,000; the database is
RESET and loaded with the demo registry): M messages published at QoS 1 until the consumer has
stored and acked them all — ``mqtt_reads_per_s`` (target ≥ 5,000/s), ``mqtt_store_per_s`` (the
consumer's own rate), ``mqtt_publish_per_s`` (the publisher's rate, the ceiling of the end-to-end
figure). Devices are mosquitto_pub (C) when installed, else a paho publisher in its own process
(UCIS_BENCH_PUBLISHER=python forces it); UCIS_BENCH_BATCH sets the consumer's batch (default 2,000);
the bench starts a Mosquitto of its own sized for the burst when the binary is installed, else
uses UCIS_MQTT_HOST:UCIS_MQTT_PORT (default 127.0.0.1:1883; setting UCIS_MQTT_PORT forces that one).

Last line: the key=value pairs of every measurement run, e.g.
``reads_per_s=… load_s=… validate_s=… reads=… mqtt_reads_per_s=…``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

READS_PER_CUSTOMER = 27.9  # 1 + 0.7 + 0.45 meters per customer, 13 reads each (less the no-reads)
TODAY = date(2026, 11, 23)


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from ucis.platform.embedded_db import ensure_database_url

    ensure_database_url()
    import django

    django.setup()


def _ensure_reads(n: int, customers: int | None) -> dict[str, str]:
    """Demo data holding at least ``n`` reads; the figures of the load when one was needed."""
    from django.core.management import call_command
    from django.db import connection

    from ucis.demo import generator

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM metering_meterread")
        stored = cursor.fetchone()[0]
    if stored >= n and customers is None:
        return {}
    size = customers or max(100, int(n / READS_PER_CUSTOMER * 1.02) + 1)
    generator.demo_reset()
    started = time.perf_counter()
    result = generator.demo_data_load(customers=size, seed=2026, password="bench-Passw0rd!", today=TODAY)
    total = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE metering_meterread")
    print(f"demo load: {size:,} customers, {result['meters']:,} meters, {result['reads']:,} reads in {total:.1f} s; "
          f"reads phase {result['reads_s']:.1f} s (plan {result['reads_plan_s']:.1f} s, validate "
          f"{result['validate_s']:.1f} s, write {result['write_s']:.1f} s), {result['flagged']:,} flagged, "
          f"{result['open_reviews']:,} open reviews")
    return {"demo_reads": str(result["reads"]), "demo_reads_s": f"{result['reads_s']:.1f}",
            "demo_reads_per_s": f"{result['reads'] / result['reads_s']:.0f}"}


def measure_validation(n: int, *, customers: int | None = None) -> dict[str, str]:
    from ucis.metering import bulkload

    figures = _ensure_reads(n, customers)
    bulkload.reads_revalidate(today=TODAY, limit=min(n, 10_000))  # warm the catalog and caches
    result = bulkload.reads_revalidate(today=TODAY, limit=n)
    seconds = result.load_s + result.validate_s
    print(f"validation: {result.reads:,} reads in {seconds:.2f} s (load {result.load_s:.2f} s, validate "
          f"{result.validate_s:.2f} s) = {result.reads / seconds:,.0f} reads/s; {result.needs_review:,} need "
          f"review, {result.changed:,} differ from the stored flags")
    print("  flags: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.flag_counts.items())))
    return {"reads_per_s": f"{result.reads / seconds:.0f}", "load_s": f"{result.load_s:.2f}",
            "validate_s": f"{result.validate_s:.2f}", "reads": str(result.reads), **figures}


def meters_installed(n: int) -> list[tuple[str, str]]:
    """A fresh database with at least ``n`` water meters installed (the demo registry, loaded
    set-based); returns (serial, today's reading) of ``n`` of them."""
    from django.core.management import call_command
    from django.db import connection

    from ucis.demo import generator

    call_command("migrate", verbosity=0)
    generator.demo_reset()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE metering_mqttdeadletter")
    started = time.perf_counter()
    customers = n * 4 // 3  # a few water meters are left out below
    generator.demo_data_load(customers=customers, seed=2026, password="bench-Passw0rd!", bills=False)
    print(f"loaded {customers} customers in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    from ucis.metering import ingest

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        # The demo city has a year of reads: each meter's next read continues from its last one,
        # and meters the demo already read today are left out (a second reading of a day is refused).
        # Today's reading continues each meter's own daily usage since its last read, as a smart
        # meter's would (a jump would send every read to the review queue, which is not the
        # common case this measures).
        cursor.execute("""SELECT m.serial, round(coalesce(last.reading, i.install_reading)
                                 + coalesce(last.usage / greatest(last.read_date - last.previous_date, 1), 0.3)
                                   * greatest(%s - coalesce(last.read_date, i.installed_date), 1), 3)
                            FROM customers_meter m
                            JOIN customers_meterinstallation i ON i.meter_id = m.id AND i.removed_date IS NULL
                            LEFT JOIN LATERAL (SELECT r.reading, r.read_date, r.usage, r.previous_date
                                                 FROM metering_meterread r
                                                WHERE r.meter_id = m.id AND r.status IN ('pending', 'accepted')
                                                ORDER BY r.read_date DESC LIMIT 1) last ON true
                           WHERE m.commodity = 'water' AND m.dial_digits >= 5
                             AND coalesce(last.reading, i.install_reading) < power(10, m.dial_digits) - 1000
                             AND (last.read_date IS NULL OR last.read_date < %s)
                           ORDER BY m.id LIMIT %s""", [ingest.local_today(), ingest.local_today(), n])
        return [(serial, str(reading)) for serial, reading in cursor.fetchall()]


def _publish(host: str, port: int, topics: list[str], payloads: list[bytes], go, done) -> None:
    """The devices: publish every message at QoS 1 and wait until the broker has them all. Runs in
    a process of its own, as devices do, so it does not share the consumer's interpreter lock."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ucis-bench-pub-{uuid.uuid4().hex[:8]}",
                            protocol=mqtt.MQTTv5)
    publisher.max_inflight_messages_set(1000)
    publisher.max_queued_messages_set(0)
    publisher.connect(host, port)
    publisher.loop_start()
    go.wait()
    started = time.perf_counter()
    infos = [publisher.publish(topic, payload, qos=1) for topic, payload in zip(topics, payloads, strict=True)]
    for info in infos:
        info.wait_for_publish(timeout=120)
    done.put(time.perf_counter() - started)
    publisher.disconnect()
    publisher.loop_stop()


def measure_mqtt(n: int, meters: list[tuple[str, str]] | None = None) -> dict[str, float]:
    """N messages at QoS 1, one per meter, through the broker into the database."""
    meters = meters if meters is not None else meters_installed(n)
    with _broker() as (host, port):
        return _measure_mqtt(n, meters, host, port)


@contextlib.contextmanager
def _broker():
    """UCIS_MQTT_HOST/UCIS_MQTT_PORT when given; else a Mosquitto of the benchmark's own, sized for
    the burst (a stock broker queues only 1,000 messages per client beyond those in flight and
    drops the rest — see docs/metering.md), or the one on 127.0.0.1:1883."""
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if "UCIS_MQTT_PORT" in os.environ or binary is None:
        yield os.environ.get("UCIS_MQTT_HOST", "127.0.0.1"), int(os.environ.get("UCIS_MQTT_PORT", "1883"))
        return
    import socket
    import tempfile

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 10000000\n")
        broker = subprocess.Popen([binary, "-c", str(conf)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield "127.0.0.1", port
        finally:
            broker.terminate()
            broker.wait(10)


def _measure_mqtt(n: int, meters: list[tuple[str, str]], host: str, port: int) -> dict[str, float]:
    import multiprocessing

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from ucis.metering import ingest
    from ucis.metering.models import MeterRead

    tag = uuid.uuid4().hex[:8]
    today = ingest.local_today()
    topics = [f"ucis-bench/{tag}/reads/LJW/{serial}" for serial, _base in meters]
    payloads = [json.dumps({"meter": serial, "read_at": f"{today.isoformat()}T08:00:00+08:00",
                            "reading": base, "msg_id": f"bench-{tag}-{k}"}).encode()
                for k, (serial, base) in enumerate(meters)]
    consumer = ingest.ReadConsumer(host=host, port=port, topic=f"ucis-bench/{tag}/reads/#",
                                   client_id=f"ucis-bench-{tag}", max_messages=len(payloads), idle_exit=30,
                                   batch=int(os.environ.get("UCIS_BENCH_BATCH", "2000")))
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    assert consumer.subscribed.wait(10), "the consumer did not subscribe"
    tool = shutil.which("mosquitto_pub")
    if tool and os.environ.get("UCIS_BENCH_PUBLISHER") != "python":
        # The devices, in C: one line per message, all on one concentrator topic (the body names the meter).
        publisher = "mosquitto_pub"
        started = time.perf_counter()
        subprocess.run([tool, "-h", host, "-p", str(port), "-V", "mqttv5", "-q", "1", "-M", "1000", "-l",
                        "-i", f"ucis-bench-pub-{tag}", "-t", f"ucis-bench/{tag}/reads/LJW/bench"],
                       input=b"\n".join(payloads) + b"\n", check=True, timeout=600)
        published_s = time.perf_counter() - started
    else:
        publisher = "paho"
        context = multiprocessing.get_context("spawn")
        go, done = context.Event(), context.Queue()
        devices = context.Process(target=_publish, args=(host, port, topics, payloads, go, done))
        devices.start()
        time.sleep(1)  # the publisher connects meanwhile
        started = time.perf_counter()
        go.set()
        published_s = done.get(timeout=600)
        devices.join(30)
    thread.join(600)
    elapsed = time.perf_counter() - started
    _forget(mqtt, CallbackAPIVersion, host, port, f"ucis-bench-{tag}")

    stats = consumer.stats
    stored = MeterRead.objects.filter(source="remote", external_ref__startswith=f"bench-{tag}-").count()
    assert stored == n, f"{stored} of {n} reads stored ({stats})"
    pending = MeterRead.objects.filter(source="remote", status="pending").count()
    print(f"mqtt: {n} messages published ({publisher}, broker {host}:{port}) in {published_s:.2f}s, stored in {elapsed:.2f}s, {stats.batches} batches, "
          f"storing {stats.store_seconds:.2f}s, {pending} reads to review, dead letters "
          f"{stats.totals.dead_letters}", file=sys.stderr)
    return {"mqtt_reads": n, "mqtt_batches": stats.batches, "mqtt_publish_per_s": round(n / published_s),
            "mqtt_store_per_s": round(n / stats.store_seconds), "mqtt_reads_per_s": round(n / elapsed)}


def _forget(mqtt, version, host: str, port: int, client_id: str) -> None:
    """Drop the bench consumer's persistent session from the broker."""
    client = mqtt.Client(version.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect(host, port, clean_start=True)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


MEASUREMENTS = {"validation": measure_validation, "mqtt": measure_mqtt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=1_000_000, help="reads to validate")
    parser.add_argument("--only", choices=sorted(MEASUREMENTS), action="append",
                        help="run only this measurement (repeatable)")
    parser.add_argument("--customers", type=int, help="regenerate the demo city with this many customers")
    parser.add_argument("--mqtt", type=int, default=20_000, help="MQTT messages for the mqtt measurement")
    args = parser.parse_args()
    _setup()
    pairs: dict[str, str] = {}
    for name in MEASUREMENTS:
        if args.only and name not in args.only:
            continue
        if name == "validation":
            pairs.update(measure_validation(args.n, customers=args.customers))
        else:
            pairs.update(measure_mqtt(args.mqtt))
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))


if __name__ == "__main__":
    main()
