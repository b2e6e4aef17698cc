"""What the project's own tests and benchmarks share: not part of the taskhub package."""
