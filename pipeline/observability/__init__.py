"""Prometheus metrics and the live dashboard's state."""
