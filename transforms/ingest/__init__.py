"""Ingest: read a configured source into canonical records, sending every bad row to dead letter."""
