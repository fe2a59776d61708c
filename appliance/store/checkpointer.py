"""Copying the -wal into the database file from a thread of its own, off the commit path.

With SQLite's automatic checkpoint, the commit that crosses wal_autocheckpoint pages copies them all
into the database file and fsyncs it before it returns; every charger answer waiting on that commit
waits for the copy too (the longest answers of the held-fleet benchmark). Here the writer's
connection has no automatic checkpoint; this thread copies, every CHECKPOINT_EVERY_S, with its own
connection.

The bulk is copied in PASSIVE mode, which never blocks the writer. But the -wal starts over from its
beginning only when a checkpoint has copied *every* frame in it, and under a steady load the writer
always appends a few more while a passive copy runs: the -wal then never started over and grew for
as long as the load lasted (2.2 GB in the first ten minutes of a 500-charger soak, each new frame a
new file block, and the -shm index mapped into memory growing with it). So once this thread's copies
have caught up to within a moment's writes, it asks the writer to copy the rest itself, between two
batches (`finish`): the writer is the one appending, so its copy gets every frame, and its next
commit starts the -wal over (cut back to journal_size_limit). A reader still needing old frames
(a long report, a sqlite3 shell left in a transaction) keeps it from starting over until it is done.
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
# Passive copies of what the writer appended during the copy before, until that is at most
# CAUGHT_UP_FRAMES (~1 MB: a millisecond or two for the writer to copy between two batches).
CATCH_UP_ROUNDS = 4
CAUGHT_UP_FRAMES = 256
FORCE_AFTER_ROUNDS = 3
CAUGHT_UP, READER_NEEDS_IT, BEHIND = "caught up", "a reader needs it", "behind"
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
        self.restarts = 0  # copies by the writer that left the -wal to start over at its next commit
        self.finish_wanted = False  # set here, read and cleared by the writer between batches
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)
        self._complained_at = -COMPLAIN_EVERY_S
        self.held_back = False  # said: a reader has kept the -wal from being copied for long
        self._behind = 0  # rounds in a row whose copies the writer outpaced
        self._held_since = time.monotonic()

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
            _busy, frames, copied = _copy(conn, "PASSIVE")
            self._watch(frames, copied)
            if copied == frames:
                state = self._catch_up(conn, frames)
                self._behind = self._behind + 1 if state == BEHIND else 0
                # Behind round after round (writes faster than the copies), the -wal would grow for
                # as long as that lasts: then the writer copies the rest anyway, a longer pause
                # between two of its batches rather than a disk filling.
                if state == CAUGHT_UP or self._behind >= FORCE_AFTER_ROUNDS:
                    self._behind = 0
                    self.finish_wanted = True
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
    def _catch_up(conn: sqlite3.Connection, frames: int) -> str:
        """Copy passively what was appended during the last copy, while that is more than a moment's
        writes (each copy is shorter than the one before): CAUGHT_UP when all of it was copied and
        what came during the last copy is few enough for the writer to copy quickly; READER_NEEDS_IT
        when a reader keeps the rest; BEHIND when the writer outpaced the copies."""
        for _ in range(CATCH_UP_ROUNDS):
            before = frames
            _busy, frames, copied = _copy(conn, "PASSIVE")
            if copied < frames:
                return READER_NEEDS_IT
            if frames - before <= CAUGHT_UP_FRAMES:
                return CAUGHT_UP
        return BEHIND

    def finish(self, writer: sqlite3.Connection) -> None:
        """On the writer's thread, between two batches, when asked (`finish_wanted`): copy the last
        frames with the writer's own connection. Nothing is appended meanwhile, so the copy is whole
        unless a reader needs old frames, and the next commit starts the -wal over."""
        self.finish_wanted = False
        try:
            _busy, frames, copied = _copy(writer, "PASSIVE")
        except sqlite3.Error as e:  # a full disk: said by the next round of this thread, if it lasts
            log.debug("the writer's copy of the last -wal frames failed: %s", e)
            return
        if copied == frames:
            self.restarts += 1


def _copy(conn: sqlite3.Connection, mode: str) -> tuple[int, int, int]:
    """(0, frames in the -wal when the copy began, frames of those copied into the database file).
    Frames the writer appends during the copy are not counted."""
    return conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
