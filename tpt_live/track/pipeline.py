"""The streaming loop: decode -> crop -> infer -> lift -> smooth -> emit, in threads with bounded queues.

Threads: the source decodes in one thread; crop, inference, lift and smoothing run in a second; the
caller's thread receives `Result`s from the `Tracker.results()` generator and emits them (writers,
overlay, window). Files go through a bounded queue and are inferred in batches: no frame is ever
dropped. Both queues, and the batch being inferred, are bounded in bytes as well as frames
(`QUEUE_BYTES` each), so full 4K frames kept for an overlay hold about 200 MB in all, not gigabytes.
Live sources go through a one-frame slot: a new frame replaces one not yet taken, which is recorded as
`dropped`, so latency stays bounded by one inference. A failure in any thread stops the others and is
re-raised in the caller's thread; closing the generator (Ctrl-C) stops the threads too.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field, replace

import numpy as np

from tpt_live.backend import PoseBackend, Poses
from tpt_live.crop import (
    CropBox,
    FollowConfig,
    crop_resize,
    follow_box,
    full_box,
    head_turns,
    to_source,
    turn_input,
    unturn_degrees,
    unturn_points_by,
)
from tpt_live.errors import SourceError
from tpt_live.localise import (
    LOOK_AGAIN,
    FilterConfig,
    Location,
    LocationFilter,
    located_input,
    open_locator,
    refined,
)
from tpt_live.track.handedness import Relabel, swapped
from tpt_live.track.handoff import LatestSlot, put_unless_stopped, queue_depth
from tpt_live.track.smoothing import PoseSmoother, SmoothingConfig
from tpt_live.track.sources import Frame, VideoSource

log = logging.getLogger(__name__)

_END = object()  # sentinel: the producing stage has finished (or failed)
STAGES = ("decode", "locate", "crop", "infer", "post", "write")  # `Stats.stage_s`; write: the caller's outputs


@dataclass(frozen=True)
class TrackConfig:
    batch: int = 8  # frames per inference call for files (live sources always infer the latest frame)
    roi: CropBox | None = None  # fixed crop in source pixels (None: full frame); with `locate`: the region searched
    follow: bool = False  # centre a square crop on the subject from the previous keypoints
    follow_config: FollowConfig = field(default_factory=FollowConfig)  # margin and limits of follow mode
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)  # One-Euro settings
    keep_images: bool = False  # pass full BGR frames on to the caller (overlay, window)
    queue_size: int = 32  # frames buffered between decoder and inference (files)
    stall_timeout: float = 60.0  # seconds without any frame before the source is declared stalled
    head: str | None = None  # where the head points ("auto": the localiser says, per frame; None: auto if locating)
    locate: bool | None = None  # locate the subject in each frame; None: if the model saw located crops, no --follow
    localiser: str | None = None  # localiser file for `locate` (None: the shipped one)
    locate_every: float = 0.2  # seconds between localiser runs in a video (0: every frame)
    refine: int = 1  # locate mode with the located angle: passes that cut each frame again along the model's axis
    look_again: float = LOOK_AGAIN  # the localiser's second look: window side in axis lengths (0: one look)

    def __post_init__(self) -> None:
        from tpt_live.errors import InputError

        if not self.locate_every >= 0:
            raise InputError(f"--locate-every {self.locate_every} must be >= 0 seconds")
        if self.batch < 1:
            raise InputError(f"--batch {self.batch} must be 1 or more")
        if self.refine < 0 or self.look_again < 0:
            raise InputError(f"--refine {self.refine} and --look-again {self.look_again} must be >= 0 (0: off)")
        if self.queue_size < 1:
            raise InputError(f"queue size {self.queue_size} must be 1 or more")
        if self.head == "auto":
            if self.locate is False or (self.locate is None and self.follow):
                raise InputError("--head auto needs --locate (the localiser tells where the head points)")
        elif self.head is not None:
            head_turns(self.head)
        if self.follow and (self.roi is not None or self.locate):
            raise InputError("--follow excludes --roi and --locate: pick one way to crop")

    def resolved(self, framing: str) -> TrackConfig:
        """This config with `locate` and `head` decided for a model of `framing` (`PoseBackend.framing`): a model
        trained on located crops (or `--head auto`) locates unless --follow or --no-locate, inside --roi if given."""
        auto = (framing == "located" or self.head == "auto") and not self.follow
        locate = auto if self.locate is None else self.locate
        return replace(self, locate=locate, head=self.head or ("auto" if locate else "up"))

    @property
    def full_frames(self) -> bool:
        """Whether the crop depends on the frame itself (follow, locate), so the decoder keeps full frames."""
        return self.follow or bool(self.locate)


@dataclass
class Result:
    """What the tracker knows about one frame. Points are source pixels (x=col, y=row, centres at integers)."""

    frame: Frame  # the decoded frame (status, idx, t; image when keep_images)
    kp2d: np.ndarray | None = None  # (J, 3) smoothed x, y and the raw consistency score
    kp2d_raw: np.ndarray | None = None  # (J, 3) unsmoothed x, y, score
    kp3d: np.ndarray | None = None  # (J, 3) smoothed, root-relative, when the backend lifts
    kp3d_raw: np.ndarray | None = None  # (J, 3) unsmoothed
    affines: np.ndarray | None = None  # (K, 2, 3) template -> MODEL-INPUT pixels (see `box`)
    location: Location | None = None  # the localiser's (smoothed) body axis, source pixels (locate mode)
    turn: float = 0.0  # degrees the model input was turned counter-clockwise (to bring the head up)
    box: CropBox | None = None  # the crop the model saw, source pixels
    model_input: np.ndarray | None = None  # (S, S, 3) uint8 RGB: what the model saw (`keep_images` only)
    latency: float = 0.0  # seconds from decode to hand-over to the caller


@dataclass
class Stats:
    frames: int = 0  # records handed out (every status)
    ok: int = 0
    dropped: int = 0
    decode_errors: int = 0
    seconds: float = 0.0  # wall time from start to the last record
    latencies: list[float] = field(default_factory=list)  # seconds, ok frames
    stage_s: dict[str, float] = field(default_factory=dict)  # seconds per stage (`STAGES`), summed over frames

    def charge(self, stage: str, since: float) -> float:  # the time from `since` (perf_counter) to now; -> now
        now = time.perf_counter()
        self.stage_s[stage] = self.stage_s.get(stage, 0.0) + now - since
        return now

    @property
    def fps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def add(self, r: Result) -> None:
        self.frames += 1
        if r.frame.status == "ok":
            self.ok += 1
            self.latencies.append(r.latency)
        elif r.frame.status == "dropped":
            self.dropped += 1
        else:
            self.decode_errors += 1


class Tracker:
    """Tracks one subject through one source. Iterate `results()` once; `stats` fills as it goes."""

    def __init__(
        self, source: VideoSource, backend: PoseBackend, config: TrackConfig, handedness: PoseBackend | None = None
    ) -> None:
        """handedness: a second model on the same crops whose left and right relabel the pose (`track.handedness`)."""
        config = config.resolved(backend.framing)
        self.source, self.backend, self.config = source, backend, config
        self.size = backend.input_size
        self.smoother = PoseSmoother(config.smoothing)
        self.stats = Stats()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        full, wh = config.keep_images or config.full_frames, (*self._wh(), self.size)
        depth = queue_depth(config.queue_size, full, *wh)
        self._batch = min(config.batch, queue_depth(config.batch, full, *wh))
        self._frames: queue.Queue = queue.Queue(depth)
        self._slot = LatestSlot()
        self._results: queue.Queue = queue.Queue(queue_depth(max(config.queue_size, config.batch * 2), full, *wh))
        self._last: Result | None = None  # steers follow mode
        self._localiser = None
        self._stills = source.spec.kind == "images"  # unrelated photos, maybe: each located alone, no running average
        self._locations = LocationFilter(FilterConfig(0.0, 0.0, 0.0, 0.0, 0.0) if self._stills else None)
        self._relabel = Relabel(handedness, stills=self._stills) if handedness is not None else None
        self._swapping = False  # the last frame's labels were swapped (a change restarts the smoother)
        self._located_t: float | None = None
        self._due: list[bool] = []  # which frames of the batch the localiser ran on (locate mode)
        self._axis: Location | None = None  # `refine`: the axis of the last frame the localiser ran on
        if config.locate:  # on the backend's runtime where it offers one (ONNX Runtime), else PyTorch
            self._localiser = open_locator(backend, config.localiser, config.look_again)
        new_track = getattr(backend, "new_track", None)  # a backend with a temporal lifter keeps the history
        if new_track is not None:
            new_track()

    def _wh(self) -> tuple[int, int]:
        return self.source.info.width, self.source.info.height

    # -- stage 1: decode (own thread) -----------------------------------------------------------
    def _decode(self) -> None:
        try:
            t = time.perf_counter()
            for frame in self.source.frames():
                self.stats.charge("decode", t)
                if self._stop.is_set():
                    break
                if self.source.live:
                    self._slot.put(frame)
                elif not put_unless_stopped(self._frames, frame, self._stop):
                    break
                t = time.perf_counter()
        except BaseException as exc:  # noqa: B036 - handed to the caller's thread, never swallowed
            self._fail(exc)
        finally:
            self._slot.close()
            put_unless_stopped(self._frames, _END, self._stop)

    # -- stage 2: crop -> infer -> lift -> smooth (own thread) -----------------------------------
    def _next_batch(self) -> tuple[list[Frame], bool]:
        """Frames for one inference call (in idx order, failed and dropped ones included), and 'ended'."""
        if self.source.live:
            dropped, frame, ended = self._slot.take(timeout=0.2)
            return dropped + ([frame] if frame is not None else []), ended
        batch: list[Frame] = []
        waited = 0.0
        while sum(f.status == "ok" for f in batch) < self._batch:
            try:
                item = self._frames.get(timeout=0.2)
            except queue.Empty:
                waited += 0.2
                if batch or self._stop.is_set():
                    return batch, self._stop.is_set()
                if waited > self.config.stall_timeout:
                    uri = self.source.spec.uri
                    raise SourceError(f"{uri}: no frame for {self.config.stall_timeout:.0f} s") from None
                continue
            if item is _END:
                return batch, True
            batch.append(item)
        return batch, False

    def _infer_loop(self) -> None:
        try:
            ended = False
            while not ended and not self._stop.is_set():
                batch, ended = self._next_batch()
                for result in self._process(batch):
                    if not put_unless_stopped(self._results, result, self._stop):
                        return
        except BaseException as exc:  # noqa: B036 - handed to the caller's thread, never swallowed
            self._fail(exc)
        finally:
            put_unless_stopped(self._results, _END, self._stop)

    def _crop(self, frame: Frame) -> tuple[np.ndarray, CropBox]:
        """The S x S RGB model input of a frame and the box it shows (fixed crops and follow mode)."""
        if not self.config.follow:
            assert frame.net is not None and frame.box is not None  # fixed crops are made by the decoder
            return frame.net, frame.box
        assert frame.image is not None  # follow mode always decodes full frames
        h, w = frame.image.shape[:2]
        box = None
        if self._last is not None and self._last.kp2d is not None:
            box = follow_box(self._last.kp2d[:, :2], self._last.kp2d[:, 2], w, h, self.config.follow_config)
        box = box or full_box(w, h)
        return np.ascontiguousarray(crop_resize(frame.image, box, self.size)[..., ::-1]), box

    def _located(self, frames: list[Frame]) -> list[tuple]:
        """Locate mode: per frame the (turned) model input, its box, its turn in degrees counter-clockwise and the
        smoothed location (input and box None where `_refine` cuts the frame). `--head auto` turns by the located
        angle itself (`crop.turned_crop`), a fixed `--head` by its quarter turns."""
        assert self._localiser is not None and all(f.image is not None for f in frames)
        bgr: list[np.ndarray] = [f.image for f in frames]  # type: ignore[misc]
        due = self._due = [self._locate_due(f.t) for f in frames]
        t = time.perf_counter()
        found = iter(self._localiser.locate([i for i, d in zip(bgr, due, strict=True) if d], True, self.config.roi))
        t = self.stats.charge("locate", t)
        out: list = []
        refining = self.config.head == "auto" and self.config.refine > 0
        for frame, image, d in zip(frames, bgr, due, strict=True):
            loc = self._locations.update(next(found), frame.t) if d else self._locations.held
            assert loc is not None  # the first frame is always due
            if refining and not d:  # cut in `_refine`
                out.append((None, None, loc.angle, loc))
                continue
            out.append((*located_input(image, loc, self.config.head or "up", self.size), loc))
        self.stats.charge("crop", t)
        return out

    def _locate_due(self, t: float) -> bool:
        """Whether the localiser runs on the frame at `t`: at most every `locate_every` seconds (always on
        a folder of images); frames between keep the running average's location."""
        if self._stills or self._located_t is None or t - self._located_t >= self.config.locate_every - 1e-3:
            self._located_t = t
            return True
        return False

    def _process(self, batch: list[Frame]) -> list[Result]:
        good = [f for f in batch if f.status == "ok"]
        by_idx: dict[int, Result] = {f.idx: Result(f) for f in batch}
        if good:
            if self.config.locate:
                crops = self._located(good)
            else:
                k, t = head_turns(self.config.head or "up"), time.perf_counter()
                crops = [(turn_input(net, k), box, 90.0 * k, None) for net, box in map(self._crop, good)]
                self.stats.charge("crop", t)
            if self.config.locate and self.config.head == "auto" and self.config.refine:
                axis = self._axis
                for _ in range(self.config.refine):
                    crops, axis = self._refine(good, crops)
                self._axis = axis  # the last pass's axis carries over to the next batch
            t = time.perf_counter()
            raw = self.backend.infer(np.stack([c[0] for c in crops]))
            t = self.stats.charge("infer", t)
            poses = self._unturn(raw, [c[2] for c in crops])
            swaps = np.zeros(len(good), bool)
            if self._relabel is not None:  # its inference counts as the infer stage
                swaps = self._relabel.swaps(np.stack([c[0] for c in crops]), [f.t for f in good], poses)
                poses, t = swapped(poses, swaps), self.stats.charge("infer", t)
            for i, (frame, crop) in enumerate(zip(good, crops, strict=True)):
                if swaps[i] != self._swapping:  # left and right trade places: their filters start again
                    self.smoother.reset()
                    self._swapping = bool(swaps[i])
                by_idx[frame.idx] = self._postprocess(frame, poses, i, crop)
            self.stats.charge("post", t)
        return [by_idx[f.idx] for f in batch]

    def _refine(self, frames: list[Frame], crops: list) -> tuple[list, Location | None]:
        """One `refine` pass. The frames the localiser ran on are inferred in their current crops, and every frame
        is cut again along the body axis of the keypoints of the last such frame up to it (`localise.refined`;
        frames between localiser runs share its location, so they share its axis; the location's own crop where
        the axis strays). So a pass costs a model call only on the localiser's frames (`--locate-every`). Returns the
        crops and the axis the batch's last frame was cut along."""
        t = time.perf_counter()
        due = [i for i, d in enumerate(self._due) if d]
        axes: dict[int, Location | None] = {}
        if due:
            poses = self.backend.infer(np.stack([crops[i][0] for i in due]), lift=False)  # lifted in the last pass
            poses = self._unturn(poses, [crops[i][2] for i in due])
            t = self.stats.charge("infer", t)
            for i, kp in zip(due, poses.keypoints, strict=True):
                axes[i] = refined(to_source(kp, crops[i][1], self.size), crops[i][3])
        out, axis = [], self._axis
        for i, (frame, crop) in enumerate(zip(frames, crops, strict=True)):
            axis = axes[i] if i in axes else axis
            if axis is not None or crop[0] is None:  # the localiser's crop where the axis strayed
                crop = (*located_input(frame.image, axis or crop[3], "auto", self.size), crop[3])  # type: ignore[arg-type]
            out.append(crop)
        self.stats.charge("crop", t)
        return out, axis

    def _unturn(self, poses: Poses, turns: list[float]) -> Poses:
        """Poses of turned inputs -> poses of the unturned inputs: keypoints and affines (model-input pixels),
        and the in-plane axes (x, y) of root-relative 3D points. turns: degrees counter-clockwise per batch item
        (multiples of 90 are undone exactly, `crop.unturn_matrix`)."""
        if all(d % 360.0 == 0 for d in turns):
            return poses
        affines, keypoints = poses.affines.copy(), poses.keypoints.copy()
        kp3d = None if poses.kp3d is None else poses.kp3d.copy()
        pad = np.broadcast_to([0.0, 0.0, 1.0], (*poses.affines.shape[1:2], 1, 3))
        for i, d in enumerate(turns):
            if d % 360.0 == 0:
                continue
            m = unturn_degrees(d, self.size)
            affines[i] = np.einsum("ij,kjl->kil", m[:2], np.concatenate([poses.affines[i], pad], axis=1))
            keypoints[i] = unturn_points_by(poses.keypoints[i].astype(np.float64), d, self.size)
            if kp3d is not None and poses.kp3d is not None:
                kp3d[i, :, :2] = poses.kp3d[i, :, :2] @ m[:2, :2].T
        return Poses(affines.astype(np.float32), keypoints.astype(np.float32), poses.consistency, kp3d=kp3d)

    def _postprocess(self, frame: Frame, poses: Poses, i: int, crop: tuple) -> Result:
        """Frame i's Result; crop: (model input, box, turn in degrees, location)."""
        model_input, box, turn, location = crop
        xy = to_source(poses.keypoints[i], box, self.size)
        score = poses.consistency[i].astype(np.float64)
        kp3d_raw = None if poses.kp3d is None else poses.kp3d[i].astype(np.float64)  # root-relative (J, 3)
        xy_s, kp3d_s = self.smoother.smooth(xy, score, frame.t, kp3d_raw)
        result = Result(
            frame=frame if self.config.keep_images else _without_pixels(frame),
            kp2d=np.column_stack([xy_s, score]),
            kp2d_raw=np.column_stack([xy, score]),
            kp3d=kp3d_s,
            kp3d_raw=kp3d_raw,
            affines=poses.affines[i],
            box=box,
            location=location,
            turn=turn,
            model_input=model_input if self.config.keep_images else None,
        )
        self._last = result
        return result

    # -- the caller's side --------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        self._errors.append(exc)
        self._stop.set()

    def results(self) -> Generator[Result, None, None]:
        """Run the stages and yield one Result per source frame, in order. Re-raises a stage's error."""
        threads = [
            threading.Thread(target=self._decode, name="tpt-decode", daemon=True),
            threading.Thread(target=self._infer_loop, name="tpt-infer", daemon=True),
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        try:
            while True:
                try:
                    item = self._results.get(timeout=0.2)
                except queue.Empty:
                    if self._errors or not any(t.is_alive() for t in threads):
                        break
                    continue
                if item is _END:
                    break
                item.latency = time.perf_counter() - item.frame.arrival
                self.stats.add(item)
                self.stats.seconds = time.perf_counter() - start
                yield item
            if self._errors:
                raise self._errors[0]
        finally:
            self.stop()
            for t in threads:
                t.join(timeout=5.0)
            self.source.close()

    def stop(self) -> None:
        """Ask the stages to finish early (the generator then ends); a live source stops reconnecting."""
        self._stop.set()
        cancel = getattr(self.source, "cancel", None)  # VideoSource; stand-ins in tests may have none
        if cancel is not None:
            cancel()


def _without_pixels(frame: Frame) -> Frame:
    """The frame's record without image buffers, so results do not keep frames alive."""
    return Frame(frame.idx, frame.t, frame.status, box=frame.box, pts=frame.pts, arrival=frame.arrival)
