"""Local tooling the worker never imports: embedded broker, TLS relay, demo producer, tail, progress bars,
process supervision.
"""
