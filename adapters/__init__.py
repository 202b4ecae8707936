"""Per-framework adapters. Each module imports its framework; import one only when needed."""
