"""ucis ingest-mqtt: store remote meter reads published to the MQTT broker (MTR-2 c)."""

from __future__ import annotations

import logging
import signal

from django.core.management.base import BaseCommand

from ucis.metering import ingest


class Command(BaseCommand):
    help = ("Subscribe to remote meter reads on the MQTT broker and store them (format: docs/metering.md). "
            "Keeps a persistent session and acknowledges each message only after its batch is committed, so "
            "every read is stored once; messages that cannot be stored are kept as dead letters with the reason.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1883)
        parser.add_argument("--topic", default=ingest.DEFAULT_TOPIC, help="subscription (default %(default)s)")
        parser.add_argument("--client-id", default=ingest.DEFAULT_CLIENT_ID,
                            help="fixed id: the broker keeps this client's session and queued messages")
        parser.add_argument("--batch", type=int, default=2000, help="messages per batch (default %(default)s)")
        parser.add_argument("--batch-wait", type=float, default=0.2,
                            help="seconds to wait for a batch to fill (default %(default)s)")
        parser.add_argument("--max-messages", type=int, default=None, help="stop after this many messages")
        parser.add_argument("--idle-exit", type=float, default=None,
                            help="stop after this many seconds subscribed without a message")
        parser.add_argument("--log-every", type=float, default=10.0, help="seconds between count lines")

    def handle(self, *args, host, port, topic, client_id, batch, batch_wait, max_messages, idle_exit, log_every,
               **options):
        # The counts and connection changes are the consumer's heartbeat: shown whatever the root level.
        logging.getLogger("ucis.metering.ingest").setLevel(logging.INFO)
        consumer = ingest.ReadConsumer(host=host, port=port, topic=topic, client_id=client_id, batch=batch,
                                       batch_wait=batch_wait, max_messages=max_messages, idle_exit=idle_exit,
                                       log_every=log_every)
        # SIGTERM (systemd, docker stop) finishes the current batch and acks it before leaving.
        signal.signal(signal.SIGTERM, lambda *_: consumer.stop())
        try:
            stats = consumer.run()
        except KeyboardInterrupt:
            consumer.stop()
            stats = consumer.stats
        t = stats.totals
        self.stdout.write(f"messages={stats.acked} stored={t.stored} duplicates={t.duplicates} "
                          f"dead_letters={t.dead_letters} batches={stats.batches}")
