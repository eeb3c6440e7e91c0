"""The worker's web views."""
