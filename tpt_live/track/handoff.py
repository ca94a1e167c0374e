"""Hand-over between the tracker's threads: a one-frame mailbox for live sources and a put that gives up when
the pipeline stops (`tpt_live.track.pipeline.Tracker`)."""

from __future__ import annotations

import queue
import threading

from tpt_live.track.sources import Frame


class LatestSlot:
    """A one-frame mailbox for live sources: `put` replaces an untaken frame and records it as dropped."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._dropped: list[Frame] = []
        self._closed = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                old = self._frame
                self._dropped.append(Frame(old.idx, old.t, "dropped", pts=old.pts, arrival=old.arrival))
            self._frame = frame
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def take(self, timeout: float) -> tuple[list[Frame], Frame | None, bool]:
        """(frames dropped since the last take, the latest frame or None, closed and empty)."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            dropped, frame = self._dropped, self._frame
            self._dropped, self._frame = [], None
            return dropped, frame, self._closed and frame is None


def put_unless_stopped(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put with a timeout loop so a stopped consumer never blocks the producer. False when stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
