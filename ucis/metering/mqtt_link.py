"""The network side of ``ucis ingest-mqtt``, in a process of its own: the MQTT client (paho) takes
about as much CPU per message as storing the read does, and in one process the two would share
one interpreter lock. The link forwards received messages to the consumer in chunks over a pipe
and acknowledges the message ids the consumer sends back once their batch is committed.

Nothing here touches Django or the database; the consumer (``ucis.metering.ingest``) does.

Pipe protocol (tuples):
  link → consumer: ("connected", generation, session_present) · ("subscribed",) · ("disconnected", reason)
                   · ("messages", [(topic, payload, dup, mid, qos, generation), ...]) · ("stopped",)
  consumer → link: ("ack", [(mid, qos, generation), ...]) · ("stop",)
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from typing import Any

FLUSH_EVERY_S = 0.01
FLUSH_AT = 500


def link_main(conn: Any, *, host: str, port: int, topic: str, client_id: str, session_expiry: int,
              receive_maximum: int) -> None:
    """Run the MQTT client until the consumer says stop (or the pipe breaks)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    if threading.current_thread() is threading.main_thread():
        # Ctrl-C and SIGTERM reach the whole process group; the consumer decides when the link
        # stops, after it has sent the acknowledgements of what it committed.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    lock = threading.Lock()
    received: list[tuple[str, bytes, bool, int, int, int]] = []
    events: list[tuple[Any, ...]] = []
    state = {"generation": 0}

    def on_connect(client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            with lock:
                events.append(("refused", str(reason_code)))
            return
        state["generation"] += 1
        # Subscribing again is harmless when the session kept the subscription.
        client.subscribe(topic, qos=1)
        with lock:
            events.append(("connected", state["generation"], bool(flags.session_present)))

    def on_subscribe(client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        with lock:
            events.append(("subscribe_failed", failed[0]) if failed else ("subscribed",))

    def on_disconnect(client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        with lock:
            events.append(("disconnected", str(reason_code)))

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        item = (msg.topic, bytes(msg.payload), bool(msg.dup), msg.mid, msg.qos, state["generation"])
        with lock:
            received.append(item)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_disconnect, client.on_message = on_disconnect, on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry
    props.ReceiveMaximum = receive_maximum

    stopping = False
    delay = 1.0
    # A consumer started before the broker waits for it.
    while not stopping:
        try:
            client.connect(host, port, keepalive=30, clean_start=False, properties=props)
            break
        except OSError as exc:
            try:
                conn.send(("unreachable", str(exc), delay))
            except OSError:
                return
            if conn.poll(delay) and conn.recv()[0] == "stop":
                stopping = True
            delay = min(delay * 2, 30.0)
    if stopping:
        conn.send(("stopped",))
        return
    # Sending has a thread of its own: while the consumer is busy storing, the pipe fills and a
    # send blocks; this loop must keep reading the consumer's acks meanwhile, or each side would
    # wait for the other to read.
    outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue()

    def send_all() -> None:
        while (item := outbox.get()) is not None:
            try:
                conn.send(item)
            except OSError:
                return

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    # loop_start reconnects by itself after a lost connection (reconnect_delay_set's backoff).
    client.loop_start()
    last_flush = time.monotonic()
    try:
        while True:
            if conn.poll(FLUSH_EVERY_S):
                command = conn.recv()
                if command[0] == "ack":
                    for mid, qos, generation in command[1]:
                        # A message from an earlier connection is delivered again on this one.
                        if qos > 0 and generation == state["generation"]:
                            client.ack(mid, qos)
                elif command[0] == "stop":
                    break
            now = time.monotonic()
            with lock:
                due = bool(events or len(received) >= FLUSH_AT or (received and now - last_flush >= FLUSH_EVERY_S))
                if due:
                    chunk, received[:] = list(received), []
                    happened, events[:] = list(events), []
            if due:
                last_flush = now
                # Events first: "connected" tells the consumer the generation of what follows.
                for event in happened:
                    outbox.put(event)
                if chunk:
                    outbox.put(("messages", chunk))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the consumer is gone; what we did not ack is delivered again to the next run
    finally:
        client.disconnect()
        client.loop_stop()
        outbox.put(("stopped",))
        outbox.put(None)
        sender.join(10)
