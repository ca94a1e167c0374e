"""Evaluation: 2D keypoint error and PCK on labelled folders (`evaluate2d`, `metrics`) and 3D lifting figures
(`evaluate3d`); `tpt-live evaluate` lays them out."""
