"""Models: classifiers (features / head split), the diffusion backbone seam, checkpoints."""
