"""The network side of ``ucis ingest-mqtt``, in a process of its own: a small MQTT 5 client for
exactly what the consumer needs (persistent session, one QoS 1 subscription, manual
acknowledgement, keep-alive, reconnection). It reads the socket in large blocks and parses every
packet they hold in one pass, and sends the acknowledgements of a committed batch in one write:
paho handled each message with several system calls (one-byte reads of the header, a select per
packet, a write per acknowledgement) and cost about as much CPU per message as storing the read
does. The link forwards received messages to the consumer in chunks over a pipe and acknowledges
the message ids the consumer sends back once their batch is committed.

Nothing here touches Django or the database; the consumer (``ucis.metering.ingest``) does.

Pipe protocol (tuples):
  link → consumer: ("connected", generation, session_present) · ("subscribed",) · ("disconnected", reason)
                   · ("unreachable", reason, retry_in_s) · ("refused", reason) · ("subscribe_failed", reason)
                   · ("messages", [(topic, payload, dup, mid, qos, generation), ...]) · ("stopped",)
  consumer → link: ("ack", [(mid, qos, generation), ...]) · ("stop",)
"""

from __future__ import annotations

import queue
import select
import signal
import socket
import struct
import threading
import time
from typing import Any

KEEPALIVE_S = 30
RECV_BYTES = 1 << 18
MIN_RETRY_S, MAX_RETRY_S = 1.0, 30.0

# Packet types (the high nibble of the first byte).
CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14
# MQTT 5 property identifiers by the shape of their value, to skip the ones we do not use.
_PROP_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_PROP_TWO = {0x13, 0x21, 0x22, 0x23}
_PROP_FOUR = {0x02, 0x11, 0x18, 0x27}
_PROP_VARINT = {0x0B}
_PROP_BYTES = {0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F}
_PROP_PAIR = {0x26}
SERVER_KEEP_ALIVE = 0x13
_REASONS = {0x80: "Unspecified error", 0x81: "Malformed Packet", 0x82: "Protocol Error",
            0x83: "Implementation specific error", 0x84: "Unsupported Protocol Version",
            0x85: "Client Identifier not valid", 0x86: "Bad User Name or Password", 0x87: "Not authorized",
            0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned", 0x8B: "Server shutting down",
            0x8D: "Keep Alive timeout", 0x8E: "Session taken over", 0x8F: "Topic Filter invalid",
            0x97: "Quota exceeded", 0x9C: "Use another server", 0x9D: "Server moved",
            0x9E: "Shared Subscriptions not supported", 0x9F: "Connection rate exceeded",
            0xA1: "Subscription Identifiers not supported", 0xA2: "Wildcard Subscriptions not supported"}


class ProtocolError(Exception):
    pass


def reason_text(code: int) -> str:
    return _REASONS.get(code, f"reason code {code:#04x}")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (128 if value else 0))
        if not value:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + _varint(len(body)) + body


def connect_packet(client_id: str, *, keepalive: int, session_expiry: int, receive_maximum: int) -> bytes:
    """CONNECT with clean start off (the broker keeps the session while we are away)."""
    props = b"\x11" + struct.pack(">I", session_expiry) + b"\x21" + struct.pack(">H", receive_maximum)
    body = _utf8("MQTT") + bytes([5, 0]) + struct.pack(">H", keepalive) + _varint(len(props)) + props
    return _packet(CONNECT, 0, body + _utf8(client_id))


def subscribe_packet(mid: int, topic: str, qos: int = 1) -> bytes:
    return _packet(SUBSCRIBE, 2, struct.pack(">H", mid) + b"\x00" + _utf8(topic) + bytes([qos]))


def acks_packet(mids: list[int]) -> bytes:
    """PUBACKs (success, so without a reason code) for ``mids``, as one block to write."""
    return b"".join(b"\x40\x02" + struct.pack(">H", mid) for mid in mids)


def _read_varint(data: Any, at: int) -> tuple[int, int]:
    """(value, position after it), or (-1, at) when the data ends first."""
    value, shift = 0, 0
    for k in range(4):
        if at + k >= len(data):
            return -1, at
        byte = data[at + k]
        value |= (byte & 127) << shift
        if not byte & 128:
            return value, at + k + 1
        shift += 7
    raise ProtocolError("malformed remaining length")


def properties(data: bytes) -> dict[int, Any]:
    """The MQTT 5 properties of a block (without its length prefix)."""
    out: dict[int, Any] = {}
    at = 0
    while at < len(data):
        prop = data[at]
        at += 1
        if prop in _PROP_BYTE:
            out[prop], at = data[at], at + 1
        elif prop in _PROP_TWO:
            out[prop], at = struct.unpack_from(">H", data, at)[0], at + 2
        elif prop in _PROP_FOUR:
            out[prop], at = struct.unpack_from(">I", data, at)[0], at + 4
        elif prop in _PROP_VARINT:
            out[prop], at = _read_varint(data, at)
        elif prop in _PROP_BYTES:
            size = struct.unpack_from(">H", data, at)[0]
            out[prop], at = data[at + 2:at + 2 + size], at + 2 + size
        elif prop in _PROP_PAIR:
            for _ in range(2):
                at += 2 + struct.unpack_from(">H", data, at)[0]
        else:
            raise ProtocolError(f"unknown property {prop:#04x}")
    return out


def split_packets(buffer: bytearray) -> list[tuple[int, int, bytes]]:
    """Take the complete packets off the front of ``buffer``: (type, flags, body) each."""
    packets = []
    at, size = 0, len(buffer)
    view = bytes(buffer)
    while at < size:
        length, body_at = _read_varint(view, at + 1)
        if length < 0 or body_at + length > size:
            break
        first = view[at]
        packets.append((first >> 4, first & 15, view[body_at:body_at + length]))
        at = body_at + length
    del buffer[:at]
    return packets


def parse_publish(flags: int, body: bytes) -> tuple[str, bytes, bool, int, int]:
    """(topic, payload, dup, mid, qos) of a PUBLISH."""
    qos = (flags >> 1) & 3
    size = struct.unpack_from(">H", body, 0)[0]
    topic = body[2:2 + size].decode("utf-8")
    at = 2 + size
    mid = 0
    if qos:
        mid = struct.unpack_from(">H", body, at)[0]
        at += 2
    props_len, at = _read_varint(body, at)
    return topic, body[at + props_len:], bool(flags & 8), mid, qos


def link_main(conn: Any, *, host: str, port: int, topic: str, client_id: str, session_expiry: int,
              receive_maximum: int) -> None:
    """Run the MQTT client until the consumer says stop (or the pipe breaks)."""
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C and SIGTERM reach the whole process group; the consumer decides when the link
        # stops, after it has sent the acknowledgements of what it committed.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Sending has a thread of its own: while the consumer is busy storing, the pipe fills and a
    # send blocks; the link must keep reading the broker and the consumer's acks meanwhile, or
    # each side would wait for the other to read.
    outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue()

    def send_all() -> None:
        while (item := outbox.get()) is not None:
            try:
                conn.send(item)
            except OSError:
                return

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    link = _Link(conn, outbox.put, host=host, port=port, topic=topic, client_id=client_id,
                 session_expiry=session_expiry, receive_maximum=receive_maximum)
    try:
        link.run()
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the consumer is gone; what we did not ack is delivered again to the next run
    finally:
        link.close()
        outbox.put(("stopped",))
        outbox.put(None)
        sender.join(10)


class _Link:
    """One connection at a time; after a lost connection (or a failed attempt) the next attempt
    waits 1 s, doubling to 30 s while attempts fail. ``generation`` counts connections: an ack
    only makes sense on the connection its message came in on (the broker delivers
    unacknowledged messages again on the next one)."""

    def __init__(self, conn: Any, emit: Any, *, host: str, port: int, topic: str, client_id: str,
                 session_expiry: int, receive_maximum: int) -> None:
        self.conn, self.emit = conn, emit
        self.host, self.port, self.topic, self.client_id = host, port, topic, client_id
        self.session_expiry, self.receive_maximum = session_expiry, receive_maximum
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.generation = 0
        self.keepalive = KEEPALIVE_S
        self.delay = MIN_RETRY_S
        self.retry_at = 0.0
        self.last_sent = self.last_heard = 0.0
        self.next_mid = 0

    def run(self) -> None:
        while True:
            now = time.monotonic()
            if self.sock is None and now >= self.retry_at:
                self._connect()
                now = time.monotonic()
            if self.sock is not None:
                wake = min(self.last_sent + self.keepalive / 2, self.last_heard + self.keepalive * 1.5)
                watched = [self.conn, self.sock]
            else:
                wake, watched = self.retry_at, [self.conn]
            readable = select.select(watched, [], [], min(max(0.0, wake - now), 1.0))[0]
            if self.sock is not None and self.sock in readable:
                self._receive()
            while self.conn.poll(0):
                command = self.conn.recv()
                if command[0] == "ack":
                    self._ack(command[1])
                elif command[0] == "stop":
                    return
            self._keep_alive()

    def close(self) -> None:
        """Leave politely: a DISCONNECT keeps the session (its expiry was set on CONNECT)."""
        if self.sock is not None:
            try:
                self.sock.sendall(bytes([DISCONNECT << 4, 0]))
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def _connect(self) -> None:
        sock = None
        try:
            sock = socket.create_connection((self.host, self.port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(connect_packet(self.client_id, keepalive=KEEPALIVE_S, session_expiry=self.session_expiry,
                                        receive_maximum=self.receive_maximum))
            buffer = bytearray()
            packets: list[tuple[int, int, bytes]] = []
            while not packets:
                data = sock.recv(RECV_BYTES)
                if not data:
                    raise ConnectionError("the broker closed the connection before CONNACK")
                buffer += data
                packets = split_packets(buffer)
            kind, _flags, body = packets[0]
            if kind != CONNACK or len(body) < 2:
                raise ConnectionError(f"the broker answered CONNECT with packet type {kind}")
            if body[1] >= 0x80:
                sock.close()
                self.emit(("refused", reason_text(body[1])))
                self._retry_later()
                return
            size, at = _read_varint(body, 2)
            props = properties(body[at:at + size]) if size > 0 else {}
            self.keepalive = int(props.get(SERVER_KEEP_ALIVE, KEEPALIVE_S)) or KEEPALIVE_S
            self.next_mid = self.next_mid % 65535 + 1
            # Subscribing again is harmless when the session kept the subscription.
            sock.sendall(subscribe_packet(self.next_mid, self.topic))
        except (OSError, ProtocolError) as exc:
            if sock is not None:
                sock.close()
            self.emit(("unreachable", str(exc) or type(exc).__name__, self.delay))
            self._retry_later()
            return
        sock.settimeout(30)  # sends only; reads wait in select
        self.sock, self.buffer = sock, buffer
        self.generation += 1
        self.last_sent = self.last_heard = time.monotonic()
        self.delay = MIN_RETRY_S
        # "connected" first: it tells the consumer the generation of the messages that follow
        # (a resumed session's undelivered messages may already be in the buffer).
        self.emit(("connected", self.generation, bool(body[0] & 1)))
        self._handle(packets[1:])

    def _retry_later(self) -> None:
        self.retry_at = time.monotonic() + self.delay
        self.delay = min(self.delay * 2, MAX_RETRY_S)

    def _lost(self, reason: str) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer = bytearray()
        self.emit(("disconnected", reason))
        self._retry_later()

    def _receive(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(RECV_BYTES)
        except OSError as exc:
            self._lost(str(exc))
            return
        if not data:
            self._lost("the broker closed the connection")
            return
        self.last_heard = time.monotonic()
        self.buffer += data
        try:
            self._handle(split_packets(self.buffer))
        except (ProtocolError, struct.error, UnicodeDecodeError, IndexError) as exc:
            self._lost(f"malformed packet from the broker: {exc}")

    def _handle(self, packets: list[tuple[int, int, bytes]]) -> None:
        messages = []
        generation = self.generation
        for kind, flags, body in packets:
            if kind == PUBLISH:
                topic, payload, dup, mid, qos = parse_publish(flags, body)
                messages.append((topic, payload, dup, mid, qos, generation))
            elif kind == SUBACK:
                size, at = _read_varint(body, 2)
                failed = [code for code in body[at + size:] if code >= 0x80]
                self.emit(("subscribe_failed", reason_text(failed[0])) if failed else ("subscribed",))
            elif kind == DISCONNECT:
                if messages:
                    self.emit(("messages", messages))
                self._lost(f"the broker disconnected: {reason_text(body[0]) if body else 'normal'}")
                return
            # PINGRESP (and anything else) only shows the broker is there.
        if messages:
            self.emit(("messages", messages))

    def _ack(self, items: list[tuple[int, int, int]]) -> None:
        # A message from an earlier connection is delivered again on this one.
        mids = [mid for mid, qos, generation in items if qos > 0 and generation == self.generation]
        if self.sock is None or not mids:
            return
        try:
            self.sock.sendall(acks_packet(mids))
            self.last_sent = time.monotonic()
        except OSError as exc:
            self._lost(str(exc))

    def _keep_alive(self) -> None:
        if self.sock is None:
            return
        now = time.monotonic()
        if now - self.last_heard > self.keepalive * 1.5:
            self._lost("keep alive timeout")
        elif now - self.last_sent >= self.keepalive / 2:
            try:
                self.sock.sendall(bytes([PINGREQ << 4, 0]))
                self.last_sent = now
            except OSError as exc:
                self._lost(str(exc))
