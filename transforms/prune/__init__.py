"""Prune: keep the source classes a target task maps onto (label mapping / feature mapping)."""
