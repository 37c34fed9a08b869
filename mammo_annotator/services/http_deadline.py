"""A total deadline for one request to a PACS, however slowly the server paces its answer.

requests' read timeout bounds only the silence between two reads: a PACS (or a proxy in front
of it) that sends a few bytes every few seconds keeps one retrieval alive for hours. Every
request here also has a deadline that grows with what arrived: after a grace period
(``MAMMO_DICOMWEB_DEADLINE_S``, 300 s: longer than the 120 s a PACS may stay silent before its
first byte while it fetches an instance from its archive) the answer must have averaged at least
``MAMMO_DICOMWEB_MIN_KIB_S`` (64 KiB/s, slower than any hospital network). A slow but moving
transfer is never cut, whatever its size (the 4 GiB cap on one instance bounds it: about 18 h at
the minimum rate; a 50 MB mammogram may take 18 min); a trickle is stopped once the grace is over.
A fixed total would either cut large tomosynthesis instances on slow links or let a trickle run
for as long as the largest instance may take.

A watchdog thread shuts the request's socket when the deadline passes: that unblocks a read stuck
anywhere (the status line, a header, a chunk, an upload the server does not read), which a check
between reads cannot. Connections register with the thread's current ``Transfer``
(``WatchedAdapter`` makes a requests session use such connections).
"""

from __future__ import annotations

import http.client
import math
import os
import socket
import threading
import time
from typing import Iterator

import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..core.errors import MammoError

ENV_FLOOR, ENV_MIN_RATE = "MAMMO_DICOMWEB_DEADLINE_S", "MAMMO_DICOMWEB_MIN_KIB_S"
FLOOR_S, MIN_RATE_KIB_S = 300.0, 64.0
_MIB = 1024 * 1024
_NETWORK_ERRORS = (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException)  # what a shut socket raises


def setting(name: str, default: float, whole: bool = False) -> float:
    """A positive number from the environment variable ``name``, else ``default``; a value that is
    not one is named (a typo must not silently mean 'no limit')."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise MammoError(f"{name}={text!r}: expected a positive {'whole ' if whole else ''}number")
    return value


def limits() -> tuple[float, float]:
    """(grace in seconds, minimum rate in KiB/s): the environment's, else the defaults."""
    return setting(ENV_FLOOR, FLOOR_S), setting(ENV_MIN_RATE, MIN_RATE_KIB_S)


class TooSlow(MammoError):
    """A request passed its deadline; names the URL and what arrived in how long."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


_local = threading.local()


def current() -> "Transfer | None":
    """The transfer this thread is inside, if any (a request made within it shares its deadline)."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


def _amount(n: int) -> str:
    return f"{n / _MIB:.1f} MiB" if n >= _MIB // 10 else f"{n} bytes"


def _shut(target: object) -> None:
    """Shut a connection's socket (the plain socket call: a TLS socket's own one would tear down
    its state under the reading thread); a blocked read then returns at once."""
    sock = target if isinstance(target, socket.socket) else getattr(target, "sock", None)
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


class Transfer:
    """The deadline of one request (with its retries), as a context: ``add`` counts what arrived,
    ``credit`` is an upload's size (bytes the PACS must take before it answers)."""

    def __init__(self, url: str, credit: int = 0, floor_s: float | None = None, min_kib_s: float | None = None):
        if floor_s is None or min_kib_s is None:
            floor_s, min_kib_s = limits()
        self.url, self.floor_s, self.rate, self.credit = url, floor_s, min_kib_s * 1024, credit
        self.received = 0
        self.reason: str | None = None
        self.start = time.monotonic()
        self._targets: list[object] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> float:
        return self.start + self.floor_s + (self.received + self.credit) / self.rate

    def add(self, n: int) -> None:
        self.received += n
        self.check()

    def check(self) -> None:
        """TooSlow once the deadline has passed (also for a retry of a request that passed it)."""
        if self.reason is None and time.monotonic() > self.due():
            self._expire()
        if self.reason is not None:
            raise TooSlow(self.url, self.reason)

    def watch(self, target: object) -> None:
        """A connection or socket the request uses: shut when the deadline passes."""
        with self._lock:
            self._targets.append(target)
            expired = self.reason is not None
        if expired:
            _shut(target)

    def _expire(self) -> None:
        with self._lock:
            if self.reason is None:
                elapsed = time.monotonic() - self.start
                upload = f" (after an upload of {_amount(self.credit)})" if self.credit else ""
                self.reason = (f"the PACS sent {_amount(self.received)} in {elapsed:.0f} s{upload}, below the minimum of "
                               f"{self.rate / 1024:g} KiB/s after {self.floor_s:g} s: stopped (the limits are set by "
                               f"{ENV_MIN_RATE} and {ENV_FLOOR})")
            targets = list(self._targets)
        for target in targets:
            _shut(target)

    def _watchdog(self) -> None:
        while not self._stop.wait(max(0.0, self.due() - time.monotonic()) + 0.01):
            if time.monotonic() > self.due():
                self._expire()
                return

    def __enter__(self) -> "Transfer":
        if getattr(_local, "stack", None) is None:
            _local.stack = []
        _local.stack.append(self)
        self._thread = threading.Thread(target=self._watchdog, name="pacs-deadline", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()  # it shuts nothing once the transfer is over (a kept-alive connection is reused)
        _local.stack.remove(self)
        if self.reason is not None and isinstance(exc, _NETWORK_ERRORS):  # the watchdog shut the socket
            raise TooSlow(self.url, self.reason) from exc


def chunks(response, transfer: Transfer, size: int = 1 << 20) -> Iterator[bytes]:
    """A streamed response's body as it arrives (``read1``: a piece is whatever came, so the
    watchdog sees a slow transfer's progress), each piece counted towards ``transfer``. Errors as
    requests' ``iter_content`` raises them. A body the watchdog cut may look whole (a socket shut
    inside the headers reads as their end): refused."""
    from requests import exceptions as rex

    raw = response.raw
    while True:
        try:
            piece = raw.read1(size, decode_content=True)
        except urllib3.exceptions.ProtocolError as exc:
            raise rex.ChunkedEncodingError(exc) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise rex.ContentDecodingError(exc) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise rex.ConnectionError(exc) from exc
        except urllib3.exceptions.SSLError as exc:
            raise rex.SSLError(exc) from exc
        if not piece:
            break
        transfer.add(len(piece))
        yield piece
    transfer.check()


class _Watched:
    """A urllib3 connection that hands its socket to the thread's current Transfer."""

    def request(self, *args, **kwargs):
        if (transfer := current()) is not None:
            transfer.watch(self)  # its socket at the time (set while the request is sent)
        return super().request(*args, **kwargs)

    def getresponse(self, *args, **kwargs):
        if (transfer := current()) is not None and self.sock is not None:
            transfer.watch(self.sock)  # the connection forgets it when the answer says "Connection: close"
        return super().getresponse(*args, **kwargs)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter over watched connections; a redirect's body is never read (requests would
    read it whole and decoded, however large, before following the redirect)."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        if response.is_redirect:
            response.close()
        return response
