"""Orchestration: the CLI, DVC stages, data preparation and reports."""
