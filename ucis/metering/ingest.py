"""Remote reads over MQTT (远传抄表): smart meters and concentrators publish reads to the broker;
``ucis ingest-mqtt`` subscribes, stores them in batches through ``meter_reads_record`` and keeps
what cannot be stored as dead letters with the reason. Format: docs/metering.md.

Each read is stored once. The broker delivers QoS 1 messages at least once: the consumer keeps a
persistent session and acknowledges a message only after the batch it came in is committed, so
a crash or a lost connection before the acknowledgement makes the broker deliver it again — and
the recorder stores a repeated message id (or the same meter, day and reading) as a duplicate.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import InterfaceError, OperationalError, connection, transaction

from ucis.kernel.errors import FieldProblem
from ucis.kernel.errors import gettext_noop as _
from ucis.metering.models import MqttDeadLetter
from ucis.metering.reads import ReadInput, meter_reads_record
from ucis.platform.tenancy import SYSTEM

log = logging.getLogger("ucis.metering.ingest")

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_TOPIC = "ucis/reads/#"
DEFAULT_CLIENT_ID = "ucis-ingest-mqtt"
MAX_REF = 120  # MeterRead.external_ref
# How long the broker keeps our session (subscription and undelivered messages) while we are away.
SESSION_EXPIRY_S = 7 * 24 * 3600
# MQTT 5 lets the client say how many unacknowledged messages it takes at once; under MQTT 3.1.1
# mosquitto stops at 20, which would cap a batch at 20 messages.
RECEIVE_MAXIMUM = 65535


# --- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRead:
    """A message, or one element of a batch message, that cannot become a read."""

    payload: bytes
    problem: FieldProblem

    @property
    def reason(self) -> str:
        return f"{self.problem.field}: {self.problem.reason}"


def topic_serial(topic: str) -> str | None:
    """``…/reads/<company>/<serial>``: the meter serial named by the topic, if any."""
    levels = topic.split("/")
    if "reads" not in levels:
        return None
    at = len(levels) - 1 - levels[::-1].index("reads")
    return levels[at + 2].strip() or None if len(levels) == at + 3 else None


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, Decimal)):
        return str(value).strip()
    return None


def _read_date(item: dict[str, Any], tz: ZoneInfo) -> tuple[date | None, str | None, FieldProblem | None]:
    """The local read date and the normalised instant (for the reference), or the problem."""
    read_at, read_date = item.get("read_at"), item.get("read_date")
    on: date | None = None
    instant: str | None = None
    if read_at not in (None, ""):
        try:
            moment = datetime.fromisoformat(str(read_at).strip())
        except ValueError:
            return None, None, FieldProblem("read_at", _(
                "%(value)s is not a date and time (ISO 8601, e.g. 2026-11-10T08:00:00+08:00)"), {"value": read_at})
        # A device that sends no offset reports local time.
        moment = moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)
        on, instant = moment.date(), moment.isoformat()
    if read_date not in (None, ""):
        try:
            day = date.fromisoformat(str(read_date).strip())
        except ValueError:
            return None, None, FieldProblem("read_date", _("%(value)s is not a date (YYYY-MM-DD)"),
                                            {"value": read_date})
        if on is not None and on != day:
            return None, None, FieldProblem("read_date", _(
                "read_at %(read_at)s falls on %(local)s in China, not on read_date %(date)s"),
                {"read_at": read_at, "local": on.isoformat(), "date": day.isoformat()})
        on = day
    if on is None:
        return None, None, FieldProblem("read_at", _("the message has neither read_at nor read_date"))
    return on, instant or on.isoformat(), None


def _read(item: Any, topic: str, tz: ZoneInfo, where: str) -> tuple[ReadInput | None, FieldProblem | None]:
    if not isinstance(item, dict):
        return None, FieldProblem(where or "payload", _("a read message is a JSON object or an array of objects"))
    prefix = f"{where}." if where else ""
    serial = item.get("meter")
    if serial in (None, ""):
        serial = topic_serial(topic)
    serial = _text(serial)
    if not serial:
        return None, FieldProblem(f"{prefix}meter", _("the message names no meter (in the body or the topic)"))
    reading = item.get("reading")
    if reading in (None, ""):
        return None, FieldProblem(f"{prefix}reading", _("the message has no reading"))
    reading_text = _text(reading)
    if reading_text is None:
        return None, FieldProblem(f"{prefix}reading", _("the reading must be a number or a string, not %(value)s"),
                                  {"value": json.dumps(reading, default=str, ensure_ascii=False)})
    on, instant, problem = _read_date(item, tz)
    if problem is not None:
        return None, problem.at(prefix + problem.field)
    assert on is not None
    msg_id = item.get("msg_id")
    ref = _text(msg_id) if msg_id not in (None, "") else f"{serial}@{instant}"
    if not ref:
        return None, FieldProblem(f"{prefix}msg_id", _("the message id must be a string or a number"))
    if len(ref) > MAX_REF:
        return None, FieldProblem(f"{prefix}msg_id", _("the message id is longer than %(max)s characters"),
                                  {"max": MAX_REF})
    return ReadInput(meter=serial, read_date=on, reading=reading_text, external_ref=ref, row=ref), None


def parse_message(topic: str, payload: bytes, *, tz: ZoneInfo = LOCAL_TZ) -> tuple[list[ReadInput], list[BadRead]]:
    """The reads of one message and what is wrong with the rest. A message is one JSON object or
    an array of them (a concentrator's batch); each bad element is reported with its own bytes."""
    placed, bad = _parse(topic, payload, tz)
    return [read for read, _where in placed], bad


# json.loads(text, parse_float=Decimal) builds a new decoder (and its scanner) on every call.
_DECODER = json.JSONDecoder(parse_float=Decimal)


def _parse(topic: str, payload: bytes, tz: ZoneInfo) -> tuple[list[tuple[ReadInput, int | None]], list[BadRead]]:
    """``parse_message`` keeping each read's place in an array message (None for a single read)."""
    if not payload.strip():
        return [], [BadRead(payload, FieldProblem("payload", _("the message is empty")))]
    try:
        body = _DECODER.decode(payload.decode("utf-8"))
    except UnicodeDecodeError:
        return [], [BadRead(payload, FieldProblem("payload", _("the message is not UTF-8 text")))]
    except ValueError as exc:
        return [], [BadRead(payload, FieldProblem("payload", _("the message is not valid JSON: %(error)s"),
                                                  {"error": str(exc)}))]
    if isinstance(body, list):
        items: list[tuple[Any, int | None]] = list(zip(body, range(len(body)), strict=True))
        if not items:
            return [], [BadRead(payload, FieldProblem("payload", _("the message is an empty array")))]
    else:
        items = [(body, None)]
    reads: list[tuple[ReadInput, int | None]] = []
    bad: list[BadRead] = []
    for item, at in items:
        read, problem = _read(item, topic, tz, "" if at is None else f"[{at}]")
        if read is not None:
            reads.append((read, at))
        else:
            assert problem is not None
            bad.append(BadRead(payload if at is None else _element(item), problem))
    return reads, bad


def _element(item: Any) -> bytes:
    return json.dumps(item, ensure_ascii=False, default=str).encode("utf-8")


# --- storing a batch ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    dup: bool = False  # the broker says it may have delivered this before


@dataclass
class BatchResult:
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0

    def add(self, other: BatchResult) -> None:
        self.messages += other.messages
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.dead_letters += other.dead_letters


def local_today(tz: ZoneInfo = LOCAL_TZ) -> date:
    return datetime.now(tz).date()


Parsed = tuple[list[tuple[ReadInput, int | None]], list[BadRead]]


def messages_parse(messages: Sequence[Message], tz: ZoneInfo = LOCAL_TZ) -> list[Parsed]:
    """``_parse`` of each message: no database, so the consumer parses the next batch while the
    previous one is being stored."""
    return [_parse(m.topic, m.payload, tz) for m in messages]


def reads_ingest(messages: Sequence[Message], *, today: date | None = None, tz: ZoneInfo = LOCAL_TZ,
                 parsed: Sequence[Parsed] | None = None) -> BatchResult:
    """Store the reads of ``messages`` with one ``meter_reads_record`` call, and the rest as dead
    letters, in one transaction: after it commits every message is dealt with and may be acked.
    ``parsed``: ``messages_parse(messages, tz)`` when the caller has it already."""
    today = today or local_today(tz)
    reads: list[ReadInput] = []
    origin: list[tuple[Message, int | None]] = []
    letters: list[tuple[Message, bytes, str]] = []
    if parsed is None or len(parsed) != len(messages):
        parsed = messages_parse(messages, tz)
    for message, (placed, bad) in zip(messages, parsed, strict=True):
        for read, at in placed:
            reads.append(read)
            origin.append((message, at))
        letters.extend((message, b.payload, b.reason) for b in bad)
    result = BatchResult(messages=len(messages))
    with transaction.atomic():
        if reads:
            recorded = meter_reads_record(actor=SYSTEM, reads=reads, source="remote", today=today,
                                          reason="remote reads (MQTT)")
            # One outcome per read, in the order given.
            assert len(recorded.outcomes) == len(reads)
            bodies: dict[int, Any] = {}
            for (message, at), outcome in zip(origin, recorded.outcomes, strict=True):
                if outcome.status == "stored":
                    result.stored += 1
                elif outcome.status == "duplicate":
                    result.duplicates += 1
                else:
                    reason = "; ".join(f"{p.field}: {p.reason}" for p in outcome.problems)
                    where = "" if at is None else f"[{at}]."
                    # The element's own bytes, so a rejected element of a batch can be resent alone.
                    if at is None:
                        own = message.payload
                    else:
                        if id(message) not in bodies:
                            bodies[id(message)] = json.loads(message.payload)
                        own = _element(bodies[id(message)][at])
                    letters.append((message, own, f"{where}{reason} (message {outcome.row})"))
        result.dead_letters = _dead_letters_write(letters)
    return result


def _dead_letters_write(letters: list[tuple[Message, bytes, str]]) -> int:
    """Write the dead letters; a redelivered message (dup) whose letter was written before, by a
    run that stopped before acknowledging it, is not written twice."""
    if not letters:
        return 0
    seen: set[tuple[str, bytes, str]] = set()
    redelivered = [(m.topic, own, reason) for m, own, reason in letters if m.dup]
    if redelivered:
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT d.topic, d.payload, d.reason FROM metering_mqttdeadletter d
                     JOIN unnest(%s::text[], %s::bytea[], %s::text[]) AS k(topic, payload, reason)
                       ON d.topic = k.topic AND d.payload = k.payload AND d.reason = k.reason""",
                [[r[0] for r in redelivered], [r[1] for r in redelivered], [r[2] for r in redelivered]])
            seen = {(t, bytes(p), r) for t, p, r in cursor.fetchall()}
    rows = []
    for message, own, reason in letters:
        key = (message.topic, own, reason)
        if key in seen:
            continue
        seen.add(key)
        rows.append(MqttDeadLetter(topic=message.topic[:200], payload=own, reason=reason))
        log.warning("dead letter on %s: %s", message.topic, reason)
    MqttDeadLetter.objects.bulk_create(rows)
    return len(rows)


def _unexpected_letters(messages: Sequence[Message], error: Exception) -> BatchResult:
    """A single message the database refuses (not a connection failure) becomes a dead letter, so
    one poisonous message cannot hold up the feed."""
    letters = [(m, m.payload, f"could not be stored: {type(error).__name__}: {error}") for m in messages]
    with transaction.atomic():
        written = _dead_letters_write(letters)
    return BatchResult(messages=len(messages), dead_letters=written)


def _db_close() -> None:
    """Drop a broken or finished database connection (the next query opens a new one); inside an
    outer transaction (a test) the connection is not ours to close."""
    if not connection.in_atomic_block:
        connection.close()


# --- the consumer -------------------------------------------------------------------------------


@dataclass
class _Delivery:
    message: Message
    mid: int
    qos: int
    generation: int  # the connection it came in on; acks only make sense on that one
    parsed: Parsed | None = None  # filled by the consumer's thread before the batch is stored


@dataclass
class ConsumerStats:
    received: int = 0
    acked: int = 0
    batches: int = 0
    retries: int = 0
    store_seconds: float = 0.0  # time spent storing batches (the rest is waiting for messages)
    totals: BatchResult = field(default_factory=BatchResult)


class ReadConsumer:
    """Subscribes with a persistent MQTT 5 session and manual acknowledgement. The MQTT client runs
    in a process of its own (``ucis.metering.mqtt_link``). The thread that calls ``run`` collects
    and parses batches; a writer thread (with its own database connection) stores them one at a
    time, in order, and acknowledges each batch after it is committed — so the next batch is
    received and parsed while the previous one is written, and a batch is only checked against
    the database once the batch before it has committed."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 1883, topic: str = DEFAULT_TOPIC,
                 client_id: str = DEFAULT_CLIENT_ID, batch: int = 2000, batch_wait: float = 0.2,
                 max_messages: int | None = None, idle_exit: float | None = None, log_every: float = 10.0,
                 tz: ZoneInfo = LOCAL_TZ, today: Callable[[], date] | None = None) -> None:
        self.host, self.port, self.topic, self.client_id = host, port, topic, client_id
        self.batch, self.batch_wait = max(1, batch), batch_wait
        self.max_messages, self.idle_exit, self.log_every = max_messages, idle_exit, log_every
        self.tz = tz
        self.today = today or (lambda: local_today(tz))
        self.stats = ConsumerStats()
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker confirmed the subscription
        self._inbox: deque[_Delivery] = deque()
        self._stop = threading.Event()
        self._conn: Any = None
        self._link: Any = None
        self._link_stopped = False
        # Batches waiting for the writer thread (the first one is being written while _writing).
        self._batches: deque[list[_Delivery]] = deque()
        self._batches_lock = threading.Lock()
        self._batches_ready = threading.Condition(self._batches_lock)
        self._writing = False
        self._writer_error: list[BaseException] = []

    def stop(self) -> None:
        self._stop.set()

    # the link process

    def _start_link(self) -> None:
        import multiprocessing

        from ucis.metering import mqtt_link

        # spawn, not fork: the child must not inherit the database connection or Django's threads.
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._link = context.Process(
            target=mqtt_link.link_main, args=(child,), daemon=True, name=f"mqtt-link {self.client_id}",
            kwargs={"host": self.host, "port": self.port, "topic": self.topic, "client_id": self.client_id,
                    "session_expiry": SESSION_EXPIRY_S, "receive_maximum": RECEIVE_MAXIMUM})
        self._link.start()
        child.close()

    def _stop_link(self) -> None:
        if self._link is None:
            return
        try:
            self._conn.send(("stop",))
            deadline = time.monotonic() + 10
            while not self._link_stopped and time.monotonic() < deadline:
                self._pump(0.1)
        except (OSError, EOFError):
            pass
        self._link.join(5)
        if self._link.is_alive():
            self._link.kill()
            self._link.join(5)
        self._conn.close()

    def _pump(self, timeout: float) -> None:
        """Take in what the link sent: messages for the inbox, connection events for the flags."""
        try:
            if not self._conn.poll(max(0.0, timeout)):
                return
            while True:
                self._handle(self._conn.recv())
                if not self._conn.poll(0):
                    return
        except EOFError:
            if not self._link_stopped and not self._stop.is_set():
                raise RuntimeError("the MQTT link process stopped unexpectedly") from None
            self._link_stopped = True

    def _handle(self, event: tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "messages":
            self._inbox.extend(_Delivery(Message(topic, payload, dup), mid, qos, generation)
                               for topic, payload, dup, mid, qos, generation in event[1])
        elif kind == "connected":
            log.info("connected to %s:%s as %s (session %s), subscribing to %s", self.host, self.port,
                     self.client_id, "resumed" if event[2] else "new", self.topic)
            self.connected.set()
        elif kind == "subscribed":
            self.subscribed.set()
        elif kind == "disconnected":
            self.connected.clear()
            self.subscribed.clear()
            if not self._stop.is_set():
                log.warning("lost the broker (%s); reconnecting", event[1])
        elif kind == "unreachable":
            log.warning("cannot reach the broker %s:%s (%s); retrying in %.0fs", self.host, self.port, event[1],
                        event[2])
        elif kind == "refused":
            log.error("broker %s:%s refused the connection: %s", self.host, self.port, event[1])
        elif kind == "subscribe_failed":
            log.error("the broker refused the subscription to %s: %s", self.topic, event[1])
        elif kind == "stopped":
            self._link_stopped = True

    # the consumer (calling thread)

    def run(self) -> ConsumerStats:
        # What exists now (Django, the app) lives as long as the process: kept out of the cyclic
        # garbage collector's passes, which a batch's tens of thousands of short-lived objects
        # would otherwise trigger over the whole heap (~15 % of a batch's time).
        gc.freeze()
        self._start_link()
        last_message = last_log = time.monotonic()
        writer = threading.Thread(target=self._write_batches, daemon=True, name=f"mqtt-writer {self.client_id}")
        writer.start()
        try:
            while not self._stop.is_set():
                self._raise_writer_error()
                if self.max_messages is not None and self.stats.received >= self.max_messages:
                    # All taken: wait for the writer to commit and ack them.
                    if self.stats.acked >= self.max_messages:
                        break
                    self._pump(0.01)
                    continue
                pending = self._collect()
                now = time.monotonic()
                if not self.subscribed.is_set() or self._writing:
                    last_message = now  # idle means listening without a message, not waiting for the broker
                if pending:
                    last_message = now
                    # Parsing needs no database: done here while the writer stores the previous batch.
                    for delivery, parsed in zip(pending, messages_parse([d.message for d in pending], self.tz),
                                                strict=True):
                        delivery.parsed = parsed
                    self._hand_over(pending)
                elif self.idle_exit is not None and now - last_message >= self.idle_exit:
                    log.info("no message for %.0fs; stopping", self.idle_exit)
                    break
                if self.max_messages is not None and self.stats.acked >= self.max_messages:
                    break
                if now - last_log >= self.log_every:
                    last_log = now
                    self._log_counts()
        finally:
            if not self._stop.is_set() and not self._writer_error:
                # A normal end (idle, or max_messages): what was handed over is written first.
                with self._batches_lock:
                    while self._batches and not self._writer_error:
                        self._batches_ready.wait(0.1)
            # Stopped: the batch being written is committed and acked (or, stopped while the
            # database is away, left unacked for the broker to deliver again); batches not yet
            # started are left unacked too.
            with self._batches_lock:
                self._stop.set()
                if self._writing:
                    while len(self._batches) > 1:
                        self._batches.pop()
                else:
                    self._batches.clear()
                self._batches_ready.notify_all()
            writer.join()
            self._stop_link()
            _db_close()
            self._log_counts()
        self._raise_writer_error()
        return self.stats

    # the writer thread

    def _hand_over(self, pending: list[_Delivery]) -> None:
        """Queue a batch for the writer; while it is still busy with an earlier one, keep taking
        in what the link sends (so the next batch is ready when the writer is)."""
        with self._batches_lock:
            self._batches.append(pending)
            self._batches_ready.notify_all()
        while not self._stop.is_set():
            with self._batches_lock:
                if len(self._batches) < 2 and not self._writer_error:
                    return
            if self.max_messages is not None and self.stats.acked >= self.max_messages:
                return
            self._pump(0.01)
            self._raise_writer_error()

    def _write_batches(self) -> None:
        try:
            while True:
                with self._batches_lock:
                    while not self._batches and not self._stop.is_set():
                        self._batches_ready.wait(0.1)
                    if not self._batches:
                        return
                    pending = self._batches[0]
                    self._writing = True
                started = time.monotonic()
                try:
                    self._store(pending)
                    self.stats.store_seconds += time.monotonic() - started
                    self._ack(pending)
                finally:
                    with self._batches_lock:
                        if self._batches and self._batches[0] is pending:
                            self._batches.popleft()
                        self._writing = False
                        self._batches_ready.notify_all()
        except BaseException as exc:  # re-raised in the consumer's thread
            self._writer_error.append(exc)
            self._stop.set()
        finally:
            _db_close()

    def _raise_writer_error(self) -> None:
        if self._writer_error:
            raise self._writer_error[0]

    def _collect(self) -> list[_Delivery]:
        """Up to ``batch`` messages: wait for the first, then for more until ``batch_wait`` passed."""
        limit = self.batch
        if self.max_messages is not None:
            limit = max(1, min(limit, self.max_messages - self.stats.received))
        first_by = time.monotonic() + 0.25
        while not self._inbox and not self._stop.is_set():
            left = first_by - time.monotonic()
            if left <= 0:
                return []
            self._pump(left)
        if not self._inbox:
            return []
        deadline = time.monotonic() + self.batch_wait
        while len(self._inbox) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._pump(left)
        pending = [self._inbox.popleft() for _ in range(min(limit, len(self._inbox)))]
        self.stats.received += len(pending)
        return pending

    def _store(self, pending: list[_Delivery]) -> None:
        """Store the batch, or keep trying: nothing is acked until it is committed."""
        delay = 1.0
        while True:
            try:
                result = self._store_split(pending)
                break
            except (OperationalError, InterfaceError) as exc:
                # The database is away: keep the batch unacked and try again; if we are stopped
                # meanwhile, the broker delivers the messages again to the next run.
                self.stats.retries += 1
                log.error("database unavailable (%s); retrying the batch of %d in %.0fs", exc, len(pending), delay)
                _db_close()
                if self._stop.wait(delay):
                    raise
                delay = min(delay * 2, 60.0)
        self.stats.batches += 1
        self.stats.totals.add(result)

    def _store_split(self, deliveries: list[_Delivery]) -> BatchResult:
        """A batch the database refuses for its content is halved until the offending message is
        alone; that one becomes a dead letter and the rest are stored."""
        messages = [d.message for d in deliveries]
        try:
            if all(d.parsed is not None for d in deliveries):
                return reads_ingest(messages, today=self.today(), tz=self.tz,
                                    parsed=[d.parsed for d in deliveries if d.parsed is not None])
            return reads_ingest(messages, today=self.today(), tz=self.tz)
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:  # whatever one message provokes, the feed goes on
            if len(messages) == 1:
                log.exception("message on %s could not be stored", messages[0].topic)
                return _unexpected_letters(messages, exc)
            half = len(deliveries) // 2
            result = self._store_split(deliveries[:half])
            result.add(self._store_split(deliveries[half:]))
            return result

    def _ack(self, pending: list[_Delivery]) -> None:
        self._conn.send(("ack", [(d.mid, d.qos, d.generation) for d in pending]))
        self.stats.acked += len(pending)

    def _log_counts(self) -> None:
        t = self.stats.totals
        log.info("received=%d stored=%d duplicates=%d dead_letters=%d batches=%d db_retries=%d",
                 self.stats.received, t.stored, t.duplicates, t.dead_letters, self.stats.batches, self.stats.retries)

