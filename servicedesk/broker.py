"""kombu's Redis transport with one fix: a worker must not die when Redis goes away.

The crash (celery 5.7.0, kombu 5.7.0, redis-py 8.1.0; reproduced by the fault drill in
servicedesk/tests/test_fault_drills.py): Redis stops while the worker's channel is reading
(BRPOP) and holds unacknowledged messages (acks_late tasks running or reserved). Celery's
consumer then closes the broken connection twice (Consumer.on_connection_error_after_connected):
first `Connection.collect()`, whose channel close fails on the dead socket and which then
detaches the transport (`transport.client = None`); then `Connection.close()`, whose channel
close goes on to restore the unacknowledged messages and builds a new Redis connection pool
from `transport.client`, now None: AttributeError. `kombu.common.ignore_errors` ignores only
connection and channel errors, so the AttributeError escapes as "Unrecoverable error" and the
worker exits: outbox delivery and audit sealing stopped until someone restarted it.

Here the channel reports that state as what it is, a closed connection (a connection error),
so the cleanup ignores it and the consumer reconnects as it does after any connection loss.
The messages it could not put back are not lost: a Redis that kept them restores them after
the visibility timeout, and the outbox sweep hands every undelivered row over again.

Used for `redis://` brokers through CELERY_BROKER_TRANSPORT (servicedesk/settings.py). Drop
it when an upgrade of celery/kombu passes the drill without it.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        if getattr(self.connection, "client", None) is None:
            raise RedisConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = Channel
