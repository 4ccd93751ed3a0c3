"""Helpers shared by the test suites (fixtures, tiny models, emulators)."""
