"""Distill: self-supervised dataset distillation (KRR-ST) of a text corpus into m synthetic inputs."""
