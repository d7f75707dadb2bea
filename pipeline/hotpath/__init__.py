"""Runs once per event: batcher, lane, inference, tokeniser, caches, overload, fallback. Imports nothing from
the model build.
"""
