"""Publish: every stage output goes through staging -> validation -> atomic promote -> manifest."""
