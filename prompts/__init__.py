"""Prompt templates and few-shot examples live here as files (data, not code)."""
