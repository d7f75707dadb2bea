"""StreamGuard pipeline: pure, testable phases (batching, inference, rules, records, CLI)."""
