"""Tools for a developer's machine: the local Kafka broker and its TLS material.

Nothing a deployed worker runs imports this package.
"""
