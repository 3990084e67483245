"""Micro-benchmarks that print their figures: ``python -m nextstat.benchmarks.<name>``."""
