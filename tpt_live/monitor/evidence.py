"""Evidence for alerts: an in-memory ring of recent frames, one clip per alert, snapshots, retention limits.

Frames are kept as JPEG bytes with their stream time (seconds). When an alert fires, a clip covering
[t - before, t + after] is opened from the ring; later frames go into it until `t + after`; an alert
that fires while a clip is open extends that clip instead of starting another. Finished clips are
encoded to H.264 (`tpt_live.videoio.write_video`, frame rate from the clip's own timestamps) in a
background thread, so the stream loop never waits for the encoder. After every write, files in the
evidence folder older than `retain_days` are deleted, then the oldest until the folder holds at most
`retain_gb` gigabytes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvidenceConfig:
    before: float = 5.0  # seconds of video kept before an alert
    after: float = 15.0  # seconds of video recorded after it
    retain_days: float = 30.0  # delete evidence older than this (days)
    retain_gb: float = 5.0  # keep the evidence folder under this size (GB, 1e9 bytes)
    jpeg_quality: int = 80  # of ring frames and snapshots

    def __post_init__(self) -> None:
        from tpt_live.errors import InputError

        if min(self.before, self.after) < 0 or self.retain_days <= 0 or self.retain_gb <= 0:
            raise InputError(
                f"evidence times ({self.before}, {self.after} s) must be >= 0 and --retain-days "
                f"{self.retain_days} / --retain-gb {self.retain_gb} > 0"
            )


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    """(H, W, 3) BGR uint8 -> JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _decode(jpeg: bytes) -> np.ndarray:
    """JPEG bytes -> (H, W, 3) uint8 RGB."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("JPEG decoding failed")
    out: np.ndarray = image[..., ::-1]
    return out


@dataclass
class _Clip:
    path: Path
    end: float  # stream seconds
    frames: list[tuple[float, bytes]] = field(default_factory=list)


def enforce_retention(folder: Path, days: float, gb: float, now: float | None = None) -> list[Path]:
    """Delete files of `folder` older than `days` (by mtime), then the oldest until <= `gb`. Returns the deleted."""
    now = time.time() if now is None else now
    files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.stat().st_mtime)
    deleted = [p for p in files if now - p.stat().st_mtime > days * 86400]
    kept = [p for p in files if p not in deleted]
    total = sum(p.stat().st_size for p in kept)
    while kept and total > gb * 1e9:
        p = kept.pop(0)
        total -= p.stat().st_size
        deleted.append(p)
    for p in deleted:
        p.unlink(missing_ok=True)
    return deleted


class EvidenceRecorder:
    """Ring buffer + clip writer for one monitoring session. `folder` None keeps snapshots only in memory."""

    def __init__(self, folder: Path | None, config: EvidenceConfig | None = None) -> None:
        self.folder, self.config = folder, config or EvidenceConfig()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self._ring: deque[tuple[float, bytes]] = deque()
        self._open: _Clip | None = None
        self._threads: list[threading.Thread] = []
        self.written: list[Path] = []

    def add(self, t: float, image: np.ndarray) -> bytes:
        """Keep the frame (H, W, 3) BGR at stream time t; returns its JPEG bytes (for the web view)."""
        jpeg = encode_jpeg(image, self.config.jpeg_quality)
        self._ring.append((t, jpeg))
        while self._ring and self._ring[0][0] < t - self.config.before:
            self._ring.popleft()
        if self._open is not None:
            self._open.frames.append((t, jpeg))
            if t >= self._open.end:
                self._finish()
        return jpeg

    def alert(self, t: float, name: str, image: np.ndarray | None) -> dict[str, str]:
        """Snapshot now and open (or extend) a clip; returns {"snapshot": path, "clip": path} as written."""
        out: dict[str, str] = {}
        if self.folder is None:
            return out
        stamp = f"{name}_{time.strftime('%Y%m%d-%H%M%S')}_{t:09.2f}s"
        if image is not None:
            snap = self.folder / f"{stamp}.jpg"
            snap.write_bytes(encode_jpeg(image, self.config.jpeg_quality))
            out["snapshot"] = str(snap)
        if self._open is not None:
            self._open.end = max(self._open.end, t + self.config.after)
        else:
            self._open = _Clip(self.folder / f"{stamp}.mp4", t + self.config.after, list(self._ring))
        out["clip"] = str(self._open.path)
        return out

    def _finish(self) -> None:
        clip, self._open = self._open, None
        if clip is None or not clip.frames:
            return
        thread = threading.Thread(target=self._write, args=(clip,), name="tpt-evidence", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _write(self, clip: _Clip) -> None:
        from tpt_live.videoio import write_video

        try:
            images = [_decode(j) for _, j in clip.frames]
            h, w = images[0].shape[:2]
            span = clip.frames[-1][0] - clip.frames[0][0]
            fps = (len(images) - 1) / span if span > 0 and len(images) > 1 else 10.0
            even = [np.ascontiguousarray(im[: h - h % 2, : w - w % 2]) for im in images]
            write_video(clip.path, iter(even), fps, (w - w % 2, h - h % 2))
            self.written.append(clip.path)
            assert self.folder is not None
            for p in enforce_retention(self.folder, self.config.retain_days, self.config.retain_gb):
                log.info("evidence retention: deleted %s", p)
        except Exception as exc:  # noqa: BLE001 - evidence must never stop monitoring; logged
            log.error("could not write evidence clip %s: %s", clip.path, exc)

    def close(self) -> None:
        """Write an open clip with the frames it has and wait for the writers."""
        self._finish()
        for thread in self._threads:
            thread.join(timeout=60)
