"""Kafka plumbing of the worker: the consumer that commits exactly, the station registry,
the output logs read back on assignment, the broker probe."""
