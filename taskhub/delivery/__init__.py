"""Getting a task to a worker, and to its end, exactly as often as it should run: the
task base classes, the transactional outbox, dead letters and fan-out."""
