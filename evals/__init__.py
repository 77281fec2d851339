"""Evaluation: gold dataset, loader, evidence matching and answer-quality checks."""
