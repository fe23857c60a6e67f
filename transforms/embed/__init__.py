"""Embed: sentence vectors for texts through Beam RunInference, reused across runs and stages."""
