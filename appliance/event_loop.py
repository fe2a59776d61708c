"""The event loop the server runs on.

uvloop (libuv's loop, written in Cython) takes about 15% less CPU per charger message than Python's
own loop under load (PERFORMANCE.md): its transports, timers and polling are C, not Python objects,
which also leaves the garbage collector less to walk. The setting event_loop=asyncio runs Python's
own loop, to rule uvloop out when a fault is suspected; the code runs the same on both (the tests
run most of it on Python's loop, and the server subprocesses on uvloop).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine, TypeVar

T = TypeVar("T")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for the named loop; None for Python's own (asyncio's default)."""
    if name == "asyncio":
        return None
    import uvloop  # an install requirement; imported here so that CLI commands do not pay for it

    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], name: str) -> T:
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)
