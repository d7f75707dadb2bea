"""Seeded synthetic transactions and texts, for training, tests, demo and bench."""
