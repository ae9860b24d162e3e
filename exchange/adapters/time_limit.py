"""A time limit per adapter call: a runaway translation is stopped, not waited for.

A stylesheet with exponential recursion (well within libxslt's depth limit) or a
Python adapter stuck in ``while True`` would otherwise hold the router forever,
and every message behind it. Each adapter call gets a limit: ``time_limit`` in
its ``adapter.yaml``, else the hub's ``EXCHANGE_ADAPTER_TIME_LIMIT_S`` (10 s).

What was measured before choosing the design (lxml 6.1, libxslt 1.1.43,
CPython 3.11):

- lxml releases the GIL while libxslt transforms: a counting thread kept 95 %
  of its speed during a 12 s transform. A transform can therefore run on a
  thread of its own without starving the event loop.
- ``PyThreadState_SetAsyncExc`` stops a Python loop within milliseconds, but
  an exception sent to a thread inside libxslt fires only when the transform
  returns (13.8 s later in that test): native code is not interrupted.
- libxslt has no way in from outside: lxml keeps the transform context to
  itself, and ``XSLTAccessControl`` callbacks run only for ``document()``.

Hence the design:

- ``Translator`` runs the router's work for a whole batch on one daemon thread
  (one hop per batch, not per message, so the hop costs little), while the
  awaiting coroutine is the watchdog. ``Watch.call`` wraps every adapter call
  and tells the watchdog which adapter runs and until when.
- Past the deadline the watchdog raises ``AdapterTimeLimit`` in the thread (a
  ``BaseException``, so an adapter's ``except Exception`` cannot swallow it);
  ``Watch.call`` turns it into a ``TranslationError`` naming the adapter and the
  limit, and the router dead-letters the message for that destination only.
- A call that does not come back (XSLT at once, any other kind after
  ``GRACE_S``) is given up: the thread is abandoned (it never publishes: whatever
  it returns later is dropped) and the work resumes on a fresh thread, which
  fails that adapter at once for that message. Nothing is published before a
  batch is complete, so a message is neither lost nor translated twice.
- An abandoned thread still burns a core. ``Runaway`` tells the router, which,
  in a worker process, exits that process once the batch is committed (its
  supervisor starts it again in a second: the stylesheet is stopped), and in a
  single-process hub logs an error asking for a restart.

The cost (``python -m bench.translate_deadline``, 2 busy cores): one hop to the
thread and back is about 70 µs of CPU per batch (a bare executor hop 55 µs) and
``Watch.call`` a few µs per adapter call. Against ~1.1 ms per message of the demo
fan-out that is +17 µs per message for batches of one, nothing for batches of
ten, and less than before for larger ones (-70 to -130 µs): the router no
longer goes round the event loop after every message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import ctypes
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

from exchange.adapters.base import Adapter
from exchange.errors import TranslationError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIME_LIMIT_S = 10.0
# How long a call that was sent AdapterTimeLimit may take to come back before its
# thread is given up (native code does not see the exception until it returns).
GRACE_S = 0.5
# The watchdog looks at least this often which call runs (a new call's deadline).
TICK_S = 0.05
# Kinds whose calls sit in native code: an exception cannot reach them, give up at once.
NATIVE_KINDS = frozenset({"xslt"})


class AdapterTimeLimit(BaseException):
    """Raised by the watchdog inside the translating thread; never escapes ``Watch.call``."""


class _Abandoned(BaseException):
    """Unwinds a thread the watchdog gave up on when its call finally returns."""


def time_limit_of(adapter: Adapter, default_s: float) -> float:
    """The limit of one call of ``adapter``: its ``time_limit``, else the hub's default."""
    limit = getattr(adapter.spec, "time_limit", None)
    return float(limit) if limit else default_s


def exceeded(name: str, limit_s: float) -> TranslationError:
    return TranslationError(
        f"adapter '{name}' exceeded its time limit of {limit_s:g} s on this message; "
        "fix it or raise time_limit in adapter.yaml, then replay"
    )


@dataclass
class _Call:
    adapter: Adapter
    limit_s: float
    deadline: float
    signalled: bool = False


@dataclass
class Watch:
    """Shared by one translating thread and its watchdog: the adapter call running now.

    ``position`` is set by the work (the index of the message it is on);
    ``given_up`` names the adapters that already ran out of time on that message,
    which fail at once instead of running again.
    """

    default_s: float
    position: int = 0
    given_up: Collection[str] = ()
    abandoned: bool = False
    _current: _Call | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, adapter: Adapter, run: Callable[[], T]) -> T:
        """``run()`` (one adapter's translate) under that adapter's time limit."""
        limit = time_limit_of(adapter, self.default_s)
        name = adapter.spec.name
        if name in self.given_up:
            raise exceeded(name, limit)
        try:
            with self._lock:
                self._current = _Call(adapter, limit, time.monotonic() + limit)
            try:
                return run()
            finally:
                with self._lock:
                    self._current = None
                    if self.abandoned:
                        raise _Abandoned
        except AdapterTimeLimit:
            # The exception may land just after run() returned; the call was at its
            # deadline either way.
            raise exceeded(name, limit) from None

    def overdue(self, now: float) -> _Call | None:
        with self._lock:
            call = self._current
            return call if call is not None and now >= call.deadline else None

    def next_deadline(self) -> float | None:
        with self._lock:
            return None if self._current is None else self._current.deadline

    def interrupt(self, call: _Call, thread_id: int) -> bool:
        """Send AdapterTimeLimit into the thread while ``call`` still runs; False if it ended."""
        with self._lock:
            if self._current is not call:
                return False
            call.signalled = True
            grace = 0.0 if call.adapter.spec.kind in NATIVE_KINDS else GRACE_S
            call.deadline = time.monotonic() + grace
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(thread_id), ctypes.py_object(AdapterTimeLimit)
            )
            return True

    def abandon(self, call: _Call) -> bool:
        """Give up on the thread while ``call`` still runs; False if it ended meanwhile."""
        with self._lock:
            if self._current is not call:
                return False
            self.abandoned = True
            return True


@dataclass(frozen=True)
class Finished(Generic[T]):
    """The work ran to its end."""

    value: T


@dataclass(frozen=True)
class Runaway:
    """The thread was given up while ``adapter`` translated message number ``position``."""

    adapter: str
    limit_s: float
    position: int


class _Thread:
    """One daemon thread running submitted functions in turn.

    Not a ThreadPoolExecutor: its threads are joined when the interpreter exits,
    so an abandoned runaway would keep a stopping process alive for ever.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[concurrent.futures.Future[object], Callable[[], object]] | None
        ] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name="translator", daemon=True)
        self.thread.start()

    def submit(self, run: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((future, run))  # type: ignore[arg-type]
        return future

    def close(self) -> None:
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, run = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(run())
            except _Abandoned:
                return  # the watchdog gave up on this thread: nobody waits for it
            except BaseException as exc:  # handed to the awaiting coroutine
                future.set_exception(exc)


class Translator:
    """Runs work that translates off the event loop thread, stopping runaway adapter calls."""

    def __init__(self, default_s: float = DEFAULT_TIME_LIMIT_S) -> None:
        if not default_s > 0:
            raise ValueError(f"time limit {default_s!r} s must be positive")
        self.default_s = default_s
        self.abandoned_threads = 0
        self._thread: _Thread | None = None

    async def run(self, work: Callable[[Watch], T], *, position: int = 0) -> Finished[T] | Runaway:
        """``work(watch)`` on the translating thread; Runaway if a call there was given up."""
        if self._thread is None:
            self._thread = _Thread()
        thread = self._thread
        watch = Watch(self.default_s, position=position)
        # The work's log lines keep the stage's context (exchange.logs).
        context = contextvars.copy_context()
        future = asyncio.wrap_future(thread.submit(partial(context.run, work, watch)))
        while True:
            deadline = watch.next_deadline()
            timeout = TICK_S if deadline is None else max(0.0, deadline - time.monotonic())
            done, _ = await asyncio.wait({future}, timeout=min(timeout, TICK_S))
            if done:
                return Finished(future.result())
            call = watch.overdue(time.monotonic())
            if call is None:
                continue
            if not call.signalled:
                watch.interrupt(call, _ident(thread))
                continue
            if watch.abandon(call):
                self._thread = None
                thread.close()
                self.abandoned_threads += 1
                future.cancel()  # nobody reads it; asyncio must not warn about it
                return Runaway(call.adapter.spec.name, call.limit_s, watch.position)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.close()
            self._thread = None


def _ident(thread: _Thread) -> int:
    ident = thread.thread.ident
    assert ident is not None  # started in _Thread.__init__
    return ident
