"""`tpt_live.monitor.alerts`: thresholds, confirmation windows, cooldowns, camera gaps on stream time (pure, fast)."""

from __future__ import annotations

import pytest

from tpt_live.errors import InputError
from tpt_live.monitor.alerts import AlertConfig, AlertEngine, RuleConfig

FPS = 10.0


def _drive(engine: AlertEngine, name: str, pattern: list[tuple[float, bool]]) -> list:
    """Feed (duration s, condition) segments at FPS; returns every event."""
    events, t = [], 0.0
    for seconds, holds in pattern:
        for _ in range(round(seconds * FPS)):
            events += engine.update(t, {name: holds})
            t += 1 / FPS
    return events


def test_tuned_sets_every_rule_but_keeps_each_rules_own_gap_and_camera_lost_unconfirmed() -> None:
    tuned = AlertConfig().tuned({"no_infant": 4.0, "camera_lost": 2.0}, confirm=1.5, cooldown=30.0)
    assert tuned.no_infant == RuleConfig(4.0, confirm=1.5, cooldown=30.0, gap=1.0)
    assert tuned.no_movement == RuleConfig(20.0, confirm=1.5, cooldown=30.0, gap=0.0)
    assert tuned.camera_lost == RuleConfig(2.0, confirm=0.0, cooldown=30.0, gap=1.0)
    assert tuned.posture.threshold == 30.0 and tuned.posture.confirm == 1.5


def test_no_movement_fires_within_1s_after_20s_and_never_while_moving() -> None:
    engine = AlertEngine()
    events = _drive(engine, "no_movement", [(30.0, False), (25.0, True)])
    alerts = [e for e in events if e.event == "alert"]
    assert len(alerts) == 1 and alerts[0].kind == "no_movement"
    assert 20.0 <= alerts[0].t - 30.0 <= 21.0  # stillness began at 30 s
    quiet = AlertEngine()
    assert _drive(quiet, "no_movement", [(60.0, False)]) == []


def test_any_movement_restarts_the_stillness_timer() -> None:
    engine = AlertEngine()
    pattern = [(15.0, True), (0.2, False)] * 4  # 15 s still, a 0.2 s movement, again
    assert [e for e in _drive(engine, "no_movement", pattern) if e.event == "alert"] == []


def test_short_break_keeps_onset_but_confirmation_delays_firing() -> None:
    engine = AlertEngine()  # no_infant: 10 s, confirm 3 s, gap 1 s
    events = _drive(engine, "no_infant", [(9.0, True), (0.5, False), (5.0, True)])
    alert = next(e for e in events if e.event == "alert")
    assert alert.onset == pytest.approx(0.0)
    assert alert.t == pytest.approx(9.5 + 3.0, abs=0.11)  # 3 clean seconds after the break


def test_cooldown_holds_and_reminds() -> None:
    engine = AlertEngine(AlertConfig(no_infant=RuleConfig(10.0, confirm=3.0, cooldown=60.0)))
    episodes = [(12.0, True), (2.0, False)] * 6  # six 12-s episodes within 84 s
    alerts = [e for e in _drive(engine, "no_infant", episodes) if e.event == "alert"]
    assert len(alerts) == 2 and alerts[1].t - alerts[0].t >= 60.0
    steady = [e for e in _drive(AlertEngine(), "no_infant", [(135.0, True)]) if e.event == "alert"]
    assert [round(e.t) for e in steady] == [10, 70, 130]  # reminders once per cooldown


def test_cleared_event_after_a_fired_episode() -> None:
    events = _drive(AlertEngine(), "no_infant", [(12.0, True), (2.0, False)])
    assert [e.event for e in events] == ["alert", "cleared"]
    assert events[1].to_dict()["duration"] == pytest.approx(events[1].t - events[1].onset, abs=1e-3)


def test_camera_gap_threshold_and_cooldown() -> None:
    engine = AlertEngine()
    assert engine.camera_gap(10.0, 12.0) == []  # 2 s < 5 s
    [alert] = engine.camera_gap(10.0, 16.0)
    assert alert.kind == "camera_lost" and alert.onset == 10.0
    assert engine.camera_gap(20.0, 30.0) == []  # within the 60 s cooldown
    assert len(engine.camera_gap(100.0, 110.0)) == 1


def test_exceptions() -> None:
    with pytest.raises(InputError, match=">= 0"):
        RuleConfig(-1.0)
    with pytest.raises(InputError, match="unknown alert"):
        AlertEngine().update(0.0, {"fire": True})
