"""Tracking: sources -> crop -> infer -> lift -> smooth -> outputs and overlays, and the runner that drives them."""
