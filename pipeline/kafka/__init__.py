"""Kafka plumbing: topics, client security, which offset may be committed."""
