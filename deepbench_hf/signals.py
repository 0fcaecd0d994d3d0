"""Ctrl-C (SIGINT) and SIGTERM held back while a library is inside native code.

pyarrow calls back into Python while it reads a Parquet file (``datasets`` registers its
``Array2D``... extension types, whose deserialisation is Python code). A ``KeyboardInterrupt``
raised in such a callback is swallowed ("Exception ignored") or crashes the process with a
segmentation fault. Inside :func:`deferred_interrupts`, the two signals are only recorded;
when the block ends, the first one is delivered to the handler that was there before, so an
interrupted read stops right after it instead.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["deferred_interrupts"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM during the block and deliver the first one after it (in the main
    thread; elsewhere, where Python cannot set handlers, the block runs as is). Signals that are
    ignored stay ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous: dict[int, Any] = {}

    def hold(signum: int, frame: Any) -> None:
        caught.append(signum)

    for signum in _SIGNALS:
        handler = signal.getsignal(signum)
        if handler in (signal.SIG_IGN, None):
            continue
        previous[signum] = handler
        signal.signal(signum, hold)
    try:
        yield
    finally:
        # Both signals blocked while the handlers go back: one arriving half way would otherwise
        # leave the other on ``hold`` for good. A signal pending at unblocking reaches the
        # restored handler.
        blocked = _block(previous)
        try:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        finally:
            _unblock(blocked)
        if caught:
            signum = caught[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            else:  # SIG_DFL: the default action, now that it is back
                signal.raise_signal(signum)


def _block(signals: dict[int, Any]) -> set[int]:
    """Block ``signals`` for this thread where the OS allows it; returns those newly blocked."""
    if not signals or not hasattr(signal, "pthread_sigmask"):
        return set()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, list(signals))
    return set(signals) - set(before)


def _unblock(signals: set[int]) -> None:
    if signals:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, list(signals))
