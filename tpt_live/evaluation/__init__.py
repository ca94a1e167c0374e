"""Evaluation: 2D keypoint error and PCK on labelled folders (`evaluate2d`, `metrics`), PCK of the torso
diagonal on COCO keypoint files and against a peer (`coco`), and 3D lifting figures (`evaluate3d`);
`tpt-live evaluate` lays them out."""
