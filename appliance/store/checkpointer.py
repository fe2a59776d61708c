"""Copying the -wal into the database file from a thread of its own, off the commit path.

With SQLite's automatic checkpoint, the commit that crosses wal_autocheckpoint pages copies them all
into the database file and fsyncs it before it returns; every charger answer waiting on that commit
waits for the copy too (the longest answers of the held-fleet benchmark). Here the writer's
connection does not checkpoint; this thread does, every CHECKPOINT_EVERY_S, with its own connection.

The bulk is copied in PASSIVE mode, which never blocks the writer. But the -wal starts over from its
beginning only when a checkpoint has copied *every* frame in it, and under a steady load the writer
always appends a few more while a passive copy runs: the -wal then never starts over and grows for as
long as the load lasts (2.2 GB in the first ten minutes of a 500-charger soak, each new frame a new
file block, and the -shm index mapped into memory growing with it). So once the passive copy is done,
what the writer appended during it (a commit or two) is copied in RESTART mode: that takes the
write lock for those few frames, waiting at most RESTART_WAIT_MS for it and for readers, and the
writer's next commit starts the -wal over (cut back to journal_size_limit). A reader in a long query
(a report) keeps the -wal from starting over until it is done; nothing waits for it.
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
# How long the copy of the last frames may wait for the writer's transaction (a few ms) and for readers
# still in the -wal; meanwhile the writer's next commit waits for it (the busy handler's short sleeps).
RESTART_WAIT_MS = 10
# Passive copies of what the writer appended during the copy before, until that is at most
# CAUGHT_UP_FRAMES (~1 MB, a millisecond or two to copy under the write lock).
CATCH_UP_ROUNDS = 4
CAUGHT_UP_FRAMES = 256
# A -wal of more than HELD_BACK_FRAMES (64 MiB of 4 KiB pages) that could not be copied whole for
# HELD_BACK_AFTER_S is said once, and again when it is: a reader keeps an old snapshot (a sqlite3
# shell left in a transaction, a long backup), and the file grows until that reader is done.
HELD_BACK_AFTER_S = 300.0
HELD_BACK_FRAMES = 16384


class Checkpointer:
    def __init__(self, path: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.path = path
        self.every_s = every_s
        self.checkpoints = 0  # that copied something
        self.restarts = 0  # checkpoints that left the -wal to start over at the next commit
        # Counts the RESTARTs begun and ended: a writer kept waiting for the write lock while this moved
        # (or while it is odd: one is running) waited for this thread, not for another process (a
        # RESTART on a slow disk can outlast the writer's lock poll).
        self.lock_turns = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)
        self._complained_at = -COMPLAIN_EVERY_S
        self.held_back = False  # said: a reader has kept the -wal from being copied for long
        self._held_since = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=RESTART_WAIT_MS / 1000)
        try:
            while not self._stop.wait(self.every_s):
                self.checkpoint(conn)
            self.checkpoint(conn)  # what the last commits left, before the writer's connection closes
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            _busy, frames, copied = _copy(conn, "PASSIVE")
            self._watch(frames, copied)
            if copied == frames and self._caught_up(conn, frames):
                self._restart(conn)
        except sqlite3.Error as e:
            if time.monotonic() - self._complained_at >= COMPLAIN_EVERY_S:
                self._complained_at = time.monotonic()
                log.warning("copying the -wal into %s failed (it keeps growing until this works): %s", self.path, e)
            return
        if copied > 0:
            self.checkpoints += 1

    def _watch(self, frames: int, copied: int) -> None:
        """Say when a reader has kept the -wal from being copied (so from starting over) for long."""
        now = time.monotonic()
        if copied == frames or frames <= HELD_BACK_FRAMES:
            self._held_since = now
            if self.held_back:
                self.held_back = False
                log.info("the -wal of %s is copied into the database again and starts over", self.path)
        elif not self.held_back and now - self._held_since >= HELD_BACK_AFTER_S:
            self.held_back = True
            log.warning("the -wal of %s could not be copied into the database for %d minutes and holds %d frames: a "
                        "reader keeps an old snapshot (a sqlite3 shell left in a transaction, a long backup?); the "
                        "file grows until it is done", self.path, (now - self._held_since) // 60, frames)

    @staticmethod
    def _caught_up(conn: sqlite3.Connection, frames: int) -> bool:
        """Copy passively what was appended during the last copy, while that is more than a moment's
        writes (each copy is shorter than the one before). True when all of it was copied and what
        came during the last copy is a moment's writes: few enough to copy under the write lock."""
        for _ in range(CATCH_UP_ROUNDS):
            before = frames
            _busy, frames, copied = _copy(conn, "PASSIVE")
            if copied < frames:
                return False  # a reader needs the rest
            if frames - before <= CAUGHT_UP_FRAMES:
                return True
        return False  # the writer outpaces the copy: the next round tries again

    def _restart(self, conn: sqlite3.Connection) -> None:
        """Copy the last frames under the write lock, so that the writer's next commit starts the -wal
        over; skipped (busy) when the writer or a reader does not let go within RESTART_WAIT_MS."""
        self.lock_turns += 1
        try:
            busy, _frames, _copied = _copy(conn, "RESTART")
        finally:
            self.lock_turns += 1
        if not busy:
            self.restarts += 1

    def held_the_lock_since(self, turns: int) -> bool:
        """Whether this thread may have held the write lock since `lock_turns` was `turns`."""
        return self.lock_turns != turns or turns % 2 == 1


def _copy(conn: sqlite3.Connection, mode: str) -> tuple[int, int, int]:
    """(1 if a RESTART could not finish else 0, frames in the -wal when the copy began, frames of
    those copied into the database file). Frames the writer appends during the copy are not counted."""
    return conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
