"""Copying the -wal into the database file from a thread of its own, off the commit path.

With SQLite's automatic checkpoint, the commit that crosses wal_autocheckpoint pages copies them all
into the database file and fsyncs it before it returns; every charger answer waiting on that commit
waits for the copy too (the longest answers of the held-fleet benchmark). Here the writer's
connection does not checkpoint; this thread does, every CHECKPOINT_EVERY_S, with its own connection,
in PASSIVE mode: it copies what no reader still needs and never blocks the writer, which goes on
appending to the -wal meanwhile. When a checkpoint has copied everything, the writer's next commit
starts the -wal over from its beginning (and cuts the file back to journal_size_limit), as before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 1.0
# A failing checkpoint (a full disk: the database file must grow to take the pages) is said at most
# this often; the -wal keeps everything meanwhile, and the writer's storage faults say the rest.
COMPLAIN_EVERY_S = 300.0


class Checkpointer:
    def __init__(self, path: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.path = path
        self.every_s = every_s
        self.checkpoints = 0  # that copied something
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)
        self._complained_at = -COMPLAIN_EVERY_S

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.every_s):
                self.checkpoint(conn)
            self.checkpoint(conn)  # what the last commits left, before the writer's connection closes
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            _busy, _wal_frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as e:
            if time.monotonic() - self._complained_at >= COMPLAIN_EVERY_S:
                self._complained_at = time.monotonic()
                log.warning("copying the -wal into %s failed (it keeps growing until this works): %s", self.path, e)
            return
        if copied > 0:
            self.checkpoints += 1
