"""Beam PTransforms, one package per stage, with each stage's algorithm in Beam-free modules beside them."""
