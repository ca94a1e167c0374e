"""Monitoring alerts on stream time: threshold, confirmation window, cooldown; pure and deterministic.

Every rule watches one per-frame condition (True = the alarming state holds):

- `no_infant`: no infant in view;
- `no_movement`: infant in view and movement energy below the threshold;
- `out_of_region`: infant in view and most of its keypoints outside the region (crib);
- `posture`: infant in view and lying on the side or front;
- `camera_lost`: no frame for `threshold` seconds (reported by the monitor, not per frame); when frames
  come back, a `restored` event gives the outage's true length (onset: the last frame before it).

A rule fires at stream time t when its condition has held since `onset` with t - onset >= `threshold`,
has held in every frame of the last `confirm` seconds (or since onset, when the threshold is shorter),
and the rule did not fire within the last `cooldown` seconds. While the condition keeps holding the rule
fires again once per cooldown (a reminder). A break in the condition shorter than `gap` seconds does not
restart the onset (it still delays firing until `confirm` clean seconds have passed); a longer break ends
the episode, and a rule that fired in it emits a `cleared` event. Times are the frames' stream
timestamps (seconds), never wall time, so replaying a file gives the same alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tpt_live.errors import InputError

RULES = ("no_infant", "no_movement", "out_of_region", "posture", "camera_lost")
UNCONFIRMED = ("camera_lost",)  # rules that fire at their threshold, with no confirmation window
MESSAGES = {
    "no_infant": "no infant in view",
    "no_movement": "no movement",
    "out_of_region": "infant outside the region",
    "posture": "lying on the side or front",
    "camera_lost": "camera lost",
}


@dataclass(frozen=True)
class RuleConfig:
    threshold: float  # seconds the condition must hold before the rule fires
    confirm: float = 3.0  # seconds of unbroken condition required right before firing
    cooldown: float = 60.0  # seconds after firing before the same rule may fire again
    gap: float = 1.0  # breaks shorter than this (seconds) keep the episode's onset

    def __post_init__(self) -> None:
        if min(self.threshold, self.confirm, self.cooldown, self.gap) < 0:
            raise InputError(f"alert times must be >= 0 seconds, got {self}")


@dataclass(frozen=True)
class AlertConfig:
    no_infant: RuleConfig = RuleConfig(10.0)  # infant not in view
    no_movement: RuleConfig = RuleConfig(20.0, gap=0.0)  # any real movement restarts the stillness timer
    out_of_region: RuleConfig = RuleConfig(10.0)  # outside the crib / region of interest
    posture: RuleConfig = RuleConfig(30.0)  # on the side or front
    camera_lost: RuleConfig = RuleConfig(5.0, confirm=0.0)  # seconds without frames

    def tuned(self, thresholds: dict[str, float], confirm: float, cooldown: float) -> AlertConfig:
        """Every rule with a new threshold (seconds, by rule name), confirmation window and cooldown.

        Each rule keeps its own break tolerance (`gap`), and `camera_lost` keeps no confirmation window
        (its threshold already is the time without frames)."""
        rules = {}
        for name in RULES:
            rule = self.rule(name)
            rules[name] = replace(
                rule,
                threshold=thresholds.get(name, rule.threshold),
                confirm=0.0 if name in UNCONFIRMED else confirm,
                cooldown=cooldown,
            )
        return AlertConfig(**rules)

    def rule(self, name: str) -> RuleConfig:
        if name not in RULES:
            raise InputError(f"unknown alert {name!r}: use one of {', '.join(RULES)}")
        rule: RuleConfig = getattr(self, name)
        return rule


@dataclass
class Alert:
    """One event: an alert firing, or a fired alert's condition clearing."""

    kind: str  # a name of RULES
    t: float  # stream seconds when it fired (or cleared)
    onset: float  # stream seconds when the condition began
    event: str = "alert"  # "alert" | "cleared"
    message: str = ""  # human text
    extra: dict[str, Any] = field(default_factory=dict)  # snapshot, clip, values; filled by the monitor

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, "kind": self.kind, "t": round(self.t, 3), "onset": round(self.onset, 3),
                "duration": round(self.t - self.onset, 3), "message": self.message, **self.extra}  # fmt: skip


@dataclass
class _RuleState:
    onset: float | None = None  # start of the current episode
    last_true: float = float("-inf")  # last frame with the condition
    last_false: float = float("-inf")  # last frame without it
    last_fired: float = float("-inf")
    fired_in_episode: bool = False


class AlertEngine:
    """Feed `update(t, conditions)` once per frame in stream-time order; it returns the events of that frame."""

    def __init__(self, config: AlertConfig | None = None) -> None:
        self.config = config or AlertConfig()
        self.history: list[Alert] = []
        self._states = {name: _RuleState() for name in RULES}

    def reset_episodes(self) -> None:
        """Forget ongoing episodes (after a camera gap: nothing is known about the lost time). Cooldowns stay."""
        for s in self._states.values():
            s.onset, s.fired_in_episode = None, False
            s.last_true = s.last_false = float("-inf")

    def update(self, t: float, conditions: dict[str, bool]) -> list[Alert]:
        """conditions: rule name -> condition at stream time t (rules not given are left alone)."""
        events = []
        for name, holds in conditions.items():
            event = self._step(name, self.config.rule(name), self._states[name], t, holds)
            if event is not None:
                events.append(event)
        self.history += events
        return events

    def camera_gap(self, t_last: float, t_now: float) -> list[Alert]:
        """No frame between stream times t_last and t_now: fires `camera_lost` when the gap is long enough,
        once per outage (an outage is known by its last frame, t_last)."""
        rule, s = self.config.camera_lost, self._states["camera_lost"]
        if s.fired_in_episode and s.onset == t_last:
            return []
        if t_now - t_last < rule.threshold or t_now - s.last_fired < rule.cooldown:
            return []
        s.last_fired, s.onset, s.fired_in_episode = t_now, t_last, True
        message = f"{MESSAGES['camera_lost']}: no frame for {t_now - t_last:.1f} s"
        alert = Alert("camera_lost", t_now, t_last, message=message)
        self.history.append(alert)
        return [alert]

    def camera_restored(self, t_now: float) -> list[Alert]:
        """Frames again at stream time t_now: a `restored` event when `camera_lost` fired for this outage."""
        s = self._states["camera_lost"]
        if not s.fired_in_episode or s.onset is None:
            return []
        onset = s.onset
        s.onset, s.fired_in_episode = None, False
        alert = Alert("camera_lost", t_now, onset, "restored", f"camera restored after {t_now - onset:.1f} s")
        self.history.append(alert)
        return [alert]

    @staticmethod
    def _step(name: str, rule: RuleConfig, s: _RuleState, t: float, holds: bool) -> Alert | None:
        if not holds:
            s.last_false = t
            if s.onset is not None and t - s.last_true >= rule.gap:
                fired, onset = s.fired_in_episode, s.onset
                s.onset, s.fired_in_episode = None, False
                if fired:
                    return Alert(name, t, onset, "cleared", f"{MESSAGES[name]}: cleared")
            return None
        if s.onset is None:
            s.onset = t
        s.last_true = t
        clean_since = max(s.onset, s.last_false)
        if (
            t - s.onset >= rule.threshold
            and t - clean_since >= min(rule.confirm, rule.threshold)
            and t - s.last_fired >= rule.cooldown
        ):
            s.last_fired, s.fired_in_episode = t, True
            return Alert(name, t, s.onset, "alert", f"{MESSAGES[name]} for {t - s.onset:.1f} s")
        return None
