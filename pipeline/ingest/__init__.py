"""Decode and validate input bytes; what cannot be scored becomes a dead letter."""
