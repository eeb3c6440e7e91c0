"""Customer analytics, pure: the purchase history and what is derived from it. The stream
and the offline commands call the same functions."""
