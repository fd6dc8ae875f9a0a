"""Adapters to other libraries (DoWhy's estimator interface)."""
