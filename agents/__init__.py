"""Faust wiring: the app, its agents and the worker entry point."""
