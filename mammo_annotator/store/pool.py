"""A connection pool that never moves a SQLite connection from one thread to another.

Why: SQLAlchemy's default for a SQLite file is a shared QueuePool with ``check_same_thread``
off, so a connection opened by the GUI thread may next serve a training thread. This pool keeps
idle connections per thread: a connection is opened, reused and closed in one thread only, and
``check_same_thread`` stays on to enforce it (a session handed to another thread fails loudly
instead of sharing a connection). Keeping a connection idle also spares each short session
the cost of a new connection and, for the last one to close, of a WAL checkpoint.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.pool import ConnectionPoolEntry, Pool


class ThreadAffinePool(Pool):
    """Up to ``max_idle`` idle connections per thread; connections never change threads.

    ``dispose`` closes the calling thread's idle connections; those idle in other threads are
    closed by those threads (or when they end), never from here.
    """

    def __init__(self, creator: Any, max_idle: int = 2, **kw: Any):
        super().__init__(creator, **kw)
        self.max_idle = max_idle
        self._local = threading.local()
        self._disposed = False

    def recreate(self) -> "ThreadAffinePool":
        return self.__class__(
            self._creator, max_idle=self.max_idle, recycle=self._recycle, echo=self.echo, pre_ping=self._pre_ping,
            logging_name=self._orig_logging_name, reset_on_return=self._reset_on_return, _dispatch=self.dispatch,
            dialect=self._dialect,
        )

    def _idle(self) -> list[ConnectionPoolEntry]:
        idle = getattr(self._local, "idle", None)
        if idle is None:
            idle = self._local.idle = []
        return idle

    def _do_get(self) -> ConnectionPoolEntry:
        idle = self._idle()
        if idle:
            return idle.pop()
        record = self._create_connection()
        record.info["thread"] = threading.get_ident()
        return record

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        if record.info.get("thread") != threading.get_ident():
            return  # returned by another thread (a leaked session collected there): never reused, never closed here
        idle = self._idle()
        if self._disposed or len(idle) >= self.max_idle:
            record.close()
        else:
            idle.append(record)

    def dispose(self) -> None:
        self._disposed = True
        idle = self._idle()
        while idle:
            idle.pop().close()

    def status(self) -> str:
        return f"ThreadAffinePool id:{id(self)} idle in this thread: {len(self._idle())}"
