"""Infant monitoring: the session loop, presence, posture, movement, alerts, evidence, notifications, web view."""
