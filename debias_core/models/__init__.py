"""Models: classifiers (features / head split), the diffusion backbone seam, checkpoints."""

# The classifier a run trains unless told otherwise (defined here, free of torch, so the CLI's
# parser can name it without importing the models): it sees the digits' layout; `small-cnn`
# stays selectable for comparison.
DEFAULT_ARCH = "spatial-cnn"
