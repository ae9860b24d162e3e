"""Contract suites that every implementation of a plugin family must pass."""
