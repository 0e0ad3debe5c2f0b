"""Analysis over a project: attributions, overlays, thumbnails (more to come: embeddings)."""
