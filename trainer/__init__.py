"""Training of the TPT model from unlabelled video (decoder, losses, pair sampling, loop)."""
