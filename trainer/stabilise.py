"""Camera motion inside a span of video, so that a hand-held or panning camera still gives pairs that share
one background.

TPT's pairs assume a static camera: both frames are cut through one crop window and the background estimate
(`trainer.background`) is their per-pixel median. A phone held in the hand pans and shakes, so the same window
shows a shifted background in the two frames, the median is a blur and the decoder is asked to explain the
camera's motion with the body's template. `span_motions` measures that motion: from each frame to the first
frame of its span, a similarity transform (shift, turn, zoom) fitted with RANSAC to ORB feature matches
(OpenCV), the subject's own features left out; where that fit fails, chained through the previous frame.
Warping every frame into its span's first frame (`cv2.warpAffine`) before it is cut puts the background where
it was at the span's start; the subject moves on it as it did.

Where the matches that did not move (within `still_px`) are at least half as many as the fit's inliers, the
camera counts as still: the background stood and what moved was the subject, a hand or noise. A frame whose
fits are both weak (too few matches or inliers: a blank wall, motion blur) keeps the previous frame's motion,
and motions below a deadband count as none, so a static camera gives exactly the identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
Disc = tuple[float, float, float]  # x, y, radius in frame pixels


def _gray(frame: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Greyscale `frame` (H, W, 3 RGB) with its longer side at most `side` px, and the factor applied."""
    h, w = frame.shape[:2]
    scale = min(1.0, side / max(h, w))
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return gray, scale


class MotionFit:
    """Fits the similarity transform from one frame to the previous one (ORB features, RANSAC)."""

    def __init__(
        self, side: int = 480, features: int = 1000, min_inliers: int = 25, min_share: float = 0.3,
        deadband_px: float = 0.5, still_px: float = 1.5, still_share: float = 0.5,
    ) -> None:  # fmt: skip
        self.side, self.min_inliers, self.min_share, self.deadband_px = side, min_inliers, min_share, deadband_px
        self.still_px, self.still_share = still_px, still_share
        self.orb = cv2.ORB.create(nfeatures=features)
        self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)

    def features(self, frame: np.ndarray, subject: Disc | None = None) -> tuple[list, np.ndarray | None, float]:
        """ORB features of `frame`, none inside the `subject` disc (x, y, radius in frame pixels)."""
        gray, scale = _gray(frame, self.side)
        mask = None
        if subject is not None:
            mask = np.full(gray.shape, 255, np.uint8)
            x, y, r = (v * scale for v in subject)
            cv2.circle(mask, (round(x), round(y)), max(1, round(r)), 0, -1)
        points, desc = self.orb.detectAndCompute(gray, mask)
        return list(points), desc, scale

    def fit(
        self, prev: tuple[list, np.ndarray | None, float], cur: tuple[list, np.ndarray | None, float]
    ) -> np.ndarray | None:
        """(2, 3) map from the current frame's pixels to the earlier frame's (the identity for a still camera
        or below the deadband); None when the fit is unsure (too few matches or inliers)."""
        (p_pts, p_desc, scale), (c_pts, c_desc, _) = prev, cur
        if p_desc is None or c_desc is None or len(p_pts) < self.min_inliers or len(c_pts) < self.min_inliers:
            return None
        matches = self.matcher.match(c_desc, p_desc)
        if len(matches) < self.min_inliers:
            return None
        src = np.array([c_pts[m.queryIdx].pt for m in matches], np.float32)
        dst = np.array([p_pts[m.trainIdx].pt for m in matches], np.float32)
        still = int((np.abs(src - dst).max(1) < self.still_px).sum())  # matches that say "the camera stood still"
        m, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0)
        if m is None or inliers is None:
            return None
        count = int(inliers.sum())
        if count < self.min_inliers or count < self.min_share * len(matches):
            return None
        if still >= self.still_share * count:  # a still background outvotes a moving subject or noise
            return IDENTITY.copy()
        m = np.asarray(m, np.float64)
        corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) * self.side
        if np.abs(corners @ m[:, :2].T + m[:, 2] - corners).max() * max(1.0, 1.0 / scale) < self.deadband_px:
            return IDENTITY.copy()  # no corner of the frame moved by deadband_px full-resolution pixels
        m[:, 2] = m[:, 2] / scale  # back to full-resolution pixels (the linear part is scale-free)
        return m


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The (2, 3) affine map a after b."""
    return np.column_stack([a[:, :2] @ b[:, :2], a[:, :2] @ b[:, 2] + a[:, 2]])


def span_motions(
    frames: Iterable[np.ndarray],
    span: int,
    subjects: Sequence[Disc | None] | None = None,
    fit: MotionFit | None = None,
) -> list[np.ndarray]:
    """For every frame, the (2, 3) map from its pixels to those of the first frame of its span (frames
    k * span ... k * span + span - 1 share a span; a span's first frame maps by the identity).

    `subjects` gives per frame a disc (x, y, radius) around the moving subject whose features are left out,
    so that a large subject on a plain background is not taken for the camera's motion."""
    fit = fit or MotionFit()
    out: list[np.ndarray] = []
    ref = prev = None
    for i, frame in enumerate(frames):
        cur = fit.features(frame, None if subjects is None else subjects[i])
        if i % span == 0 or ref is None or prev is None:
            out.append(IDENTITY.copy())
            ref = cur
        else:  # straight to the span's first frame (no drift); through the previous frame where that fails
            direct = fit.fit(ref, cur)
            step = fit.fit(prev, cur) if direct is None else None
            out.append(direct if direct is not None else out[-1] if step is None else compose(out[-1], step))
        prev = cur
    return out


def warp_to_reference(frame: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """`frame` moved into its span's first frame (black where the camera saw nothing of it)."""
    if np.array_equal(motion, IDENTITY):
        return frame
    h, w = frame.shape[:2]
    return cv2.warpAffine(frame, motion, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def motion_extent(motions: list[np.ndarray], frame_w: int, frame_h: int) -> float:
    """The largest shift of the frame's centre, in frame widths, over `motions` (a summary for the log)."""
    centre = np.array([(frame_w - 1) / 2, (frame_h - 1) / 2])
    shifts = [np.linalg.norm(m[:, :2] @ centre + m[:, 2] - centre) for m in motions]
    return float(max(shifts, default=0.0) / frame_w)
