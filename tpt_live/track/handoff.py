"""Hand-over between the tracker's threads: a one-frame mailbox for live sources, a put that gives up when
the pipeline stops, and the depth of the queues (`tpt_live.track.pipeline.Tracker`)."""

from __future__ import annotations

import queue
import threading

from tpt_live.track.sources import Frame

QUEUE_BYTES = 64 * 2**20  # pixel bytes each queue (and one batch) may hold; full frames count when kept


def queue_depth(limit: int, full_frames: bool, width: int, height: int, size: int) -> int:
    """Frames a queue may hold: `limit`, fewer when that many frames pass QUEUE_BYTES.

    A frame carries the S x S model input, plus the full W x H frame when `full_frames` (kept for the caller, or
    cropped from each frame). Never below 2, so decoding and inference still overlap.
    """
    per_frame = size * size * 3 + (width * height * 3 if full_frames else 0)
    return max(2, min(limit, QUEUE_BYTES // max(per_frame, 1)))


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
