"""Waking the dispatcher at once when another process changed what it should do.

A webhook's result (applied by the web process), a new job or a cancel is committed elsewhere; the
dispatcher's loop sleeps until its next due moment and would only see it then. `notify()` tells it
at once, by whichever channel every process of this instance shares:

- Redis pub/sub where REDIS_URL is set (the broker is there already);
- PostgreSQL LISTEN/NOTIFY where the database is PostgreSQL (the listener holds one connection);
- otherwise a Unix datagram socket in the data directory, which SQLite means every process shares.

FLUXSITE_WAKE_SIGNAL picks one by name instead ("off": none). A signal is only a hint: the loop still
looks every FLUXSITE_WAKE_TIMEOUT seconds, so a lost one (a listener reconnecting, a full socket
buffer) costs at most that, never a job.
"""

import logging
import os
import socket
import threading
import time
from contextlib import nullcontext
from pathlib import Path

from django.conf import settings
from django.db import connections, transaction

log = logging.getLogger(__name__)

PG_CHANNEL = "fluxsite_dispatcher"
SOCKET_NAME = "dispatcher.sock"
MAX_SOCKET_PATH = 107  # bytes in sockaddr_un's sun_path, less its NUL
SEND_TIMEOUT = 0.25  # seconds a Redis publish may take before the wake-up is given up
SENDER_BACKOFF = 5.0  # seconds without Redis sends after one failed, so a request pays at most once
LISTEN_SLICE = 0.25  # seconds a listener blocks before it checks whether to stop (close() waits that long)
RECONNECT_SECONDS = 5.0  # a listener that lost its server tries again after this
READY_SECONDS = 2.0  # how long start() waits for a listener to subscribe


def signal_kind():
    """The channel this instance's processes share: "redis", "postgres", "socket" or "off"."""
    chosen = settings.FLUXSITE_WAKE_SIGNAL
    if chosen != "auto":
        return chosen
    if settings.REDIS_URL:
        return "redis"
    if connections["default"].vendor == "postgresql":
        return "postgres"
    return "socket"


def redis_channel():
    """Per queue name, like every other key of the instance, so sites sharing a Redis stay apart."""
    return f"{settings.FLUXSITE_QUEUE_NAME}:dispatcher-wake"


def socket_path():
    """Read at call time: tests and stacks point FLUXSITE_DATA_DIR (settings.DATA_DIR) elsewhere."""
    path = str(Path(settings.DATA_DIR) / SOCKET_NAME)
    return path if len(os.fsencode(path)) <= MAX_SOCKET_PATH else None


# --- senders ------------------------------------------------------------------------------------


class _RedisSender:
    """One Redis client per process and URL (made anew after a fork), quiet for a while after a failure."""

    def __init__(self):
        self.lock = threading.Lock()
        self.made_for = None  # (pid, REDIS_URL) of self.client
        self.client = None
        self.failed_at = 0.0

    def publish(self):
        with self.lock:
            if self.made_for != (os.getpid(), settings.REDIS_URL):
                import redis

                self.client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_connect_timeout=SEND_TIMEOUT, socket_timeout=SEND_TIMEOUT
                )
                self.made_for, self.failed_at = (os.getpid(), settings.REDIS_URL), -SENDER_BACKOFF
            if time.monotonic() - self.failed_at < SENDER_BACKOFF:
                return
            client = self.client
        try:
            client.publish(redis_channel(), b"1")
        except Exception:
            self.failed_at = time.monotonic()
            raise


_redis_sender = _RedisSender()


def notify():
    """Wake a running dispatcher now. Call it once the change it should see is committed.

    Never raises, and never waits long (a Redis publish gives up after SEND_TIMEOUT, a datagram is
    sent without blocking): a signal nobody hears, or that is lost, only leaves the dispatcher to its
    next look.
    """
    kind = signal_kind()
    try:
        if kind == "socket":
            _send_datagram()
        elif kind == "redis":
            _redis_sender.publish()
        elif kind == "postgres":
            _send_pg_notify()
    except Exception as exc:  # nobody listening, a full buffer, a server away: the safety timeout covers it
        log.debug("dispatcher wake-up (%s) not sent: %s", kind, exc)


def _send_datagram():
    path = socket_path()
    if path is None:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.sendto(b"!", path)
        except (FileNotFoundError, ConnectionRefusedError, BlockingIOError):
            pass  # no dispatcher (or a stale socket file), or a wake-up is pending already


def _send_pg_notify():
    """NOTIFY is delivered at commit: inside a transaction, in a savepoint so a failure cannot spoil it."""
    db = connections["default"]
    with transaction.atomic() if db.in_atomic_block else nullcontext():
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [PG_CHANNEL])


# --- the waiter ---------------------------------------------------------------------------------


class Waker:
    """What the dispatcher's loop sleeps on: one Event, set by the listener thread when another process
    signals and by the loop's own pool when work completes (`set`), so one wait covers both."""

    def __init__(self):
        self.event = threading.Event()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.kind = signal_kind()
        self.sock = None
        self.bound = None  # (path, inode) of the socket file this waker made
        self.thread = None

    def start(self):
        """Listen on this instance's channel; returns once listening (or after READY_SECONDS)."""
        listen = {"socket": self._listen_socket, "redis": self._listen_redis, "postgres": self._listen_postgres}
        if self.kind not in listen:
            if self.kind != "off":
                log.warning("FLUXSITE_WAKE_SIGNAL=%r is none of auto, redis, postgres, socket, off; the dispatcher "
                            "looks every %s s", self.kind, settings.FLUXSITE_WAKE_TIMEOUT)
            return self
        if self.kind == "socket" and not self._bind():
            return self
        self.thread = threading.Thread(target=listen[self.kind], name="dispatcher-wakeup", daemon=True)
        self.thread.start()
        self.ready.wait(READY_SECONDS)
        return self

    def set(self):
        self.event.set()

    def wait(self, timeout):
        """Sleep until woken or `timeout` seconds pass. The event is cleared on waking, before the loop
        looks, so a signal that comes while it looks wakes the next wait at once: none is lost."""
        woken = self.event.wait(max(timeout, 0.0))
        self.event.clear()
        return woken

    def close(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(LISTEN_SLICE + 1)
        if self.sock is not None:
            self.sock.close()
            self._unlink_own_socket()

    # --- the local socket ---

    def _bind(self):
        """Bind the socket file afresh (a dead dispatcher's is stale; only the lease holder binds)."""
        path = socket_path()
        if path is None:
            log.warning("data directory path too long for a wake-up socket; the dispatcher looks every %s s",
                        settings.FLUXSITE_WAKE_TIMEOUT)
            return False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if os.path.exists(path):
                os.unlink(path)
            sock.bind(path)
        except OSError as exc:
            sock.close()
            log.warning("cannot bind the dispatcher's wake-up socket: %s", exc)
            return False
        sock.settimeout(LISTEN_SLICE)
        self.sock = sock
        self.bound = (path, os.stat(path).st_ino)
        return True

    def _unlink_own_socket(self):
        """Remove the socket file unless a newer dispatcher has bound its own there meanwhile."""
        path, inode = self.bound
        try:
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        except OSError:
            pass

    def _listen_socket(self):
        self.ready.set()
        while not self.stopping.is_set():
            try:
                self.sock.recv(64)
            except TimeoutError:
                continue
            except OSError:
                return
            self.event.set()

    # --- Redis pub/sub ---

    def _listen_redis(self):
        import redis

        while not self.stopping.is_set():
            client = pubsub = None
            try:
                client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5, health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(redis_channel())
                self._listening()
                while not self.stopping.is_set():
                    if pubsub.get_message(timeout=LISTEN_SLICE):
                        self.event.set()
            except Exception as exc:
                self._lost(exc)
            finally:
                for thing in (pubsub, client):
                    if thing is not None:
                        thing.close()

    # --- PostgreSQL LISTEN/NOTIFY ---

    def _listen_postgres(self):
        while not self.stopping.is_set():
            db = connections["default"].copy()  # a connection of its own: it blocks in notifies()
            try:
                db.ensure_connection()
                db.connection.execute(f"LISTEN {PG_CHANNEL}")
                self._listening()
                while not self.stopping.is_set():
                    for _ in db.connection.notifies(timeout=LISTEN_SLICE):
                        self.event.set()
            except Exception as exc:
                self._lost(exc)
            finally:
                db.close()

    def _listening(self):
        """Subscribed (again): look once, since a signal sent before this moment was not heard."""
        self.ready.set()
        self.event.set()

    def _lost(self, exc):
        log.warning("dispatcher wake-up listener (%s) lost its server, retrying in %s s: %s",
                    self.kind, RECONNECT_SECONDS, exc)
        self.stopping.wait(RECONNECT_SECONDS)
