"""The monitor's live state: what the session publishes and the web view reads (thread-safe), apart from
the HTTP server so the session never imports it."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

NOT_MEDICAL = (
    "Not a medical device: it does not replace supervision and may miss events or raise false alarms. "
    "Lying on the tummy (prone) has been checked on synthetic babies only: a real baby on its tummy may be shown "
    "as supine or unknown."
)


class LiveState:
    """What the monitor publishes and the server reads (thread-safe)."""

    def __init__(self, history_s: float = 600.0) -> None:
        self._cond = threading.Condition()
        self.jpeg: bytes | None = None
        self.seq = 0  # increments with every frame
        self.state: dict[str, Any] = {}
        self.alerts: deque[dict[str, Any]] = deque(maxlen=100)
        self.activity: deque[tuple[float, float, bool]] = deque()  # (t, energy, present)
        self.history_s = history_s

    def publish(self, jpeg: bytes | None, state: dict[str, Any]) -> None:
        with self._cond:
            if jpeg is not None:
                self.jpeg, self.seq = jpeg, self.seq + 1
            self.state = state
            t = float(state.get("t", 0.0))
            self.activity.append((t, float(state.get("energy") or 0.0), bool(state.get("present"))))
            while self.activity and self.activity[0][0] < t - self.history_s:
                self.activity.popleft()
            self._cond.notify_all()

    def add_event(self, event: dict[str, Any]) -> None:
        with self._cond:
            self.alerts.appendleft(event)

    def status(self) -> dict[str, Any]:
        with self._cond:
            step = max(1, len(self.activity) // 600)  # at most ~600 points for the plot
            act = list(self.activity)[::step]
            return {"notice": NOT_MEDICAL, "state": dict(self.state), "alerts": list(self.alerts),
                    "activity": [[round(t, 2), round(e, 4), p] for t, e, p in act]}  # fmt: skip

    def wait_frame(self, seq: int, timeout: float) -> tuple[int, bytes | None]:
        with self._cond:
            self._cond.wait_for(lambda: self.seq != seq, timeout)
            return self.seq, self.jpeg
