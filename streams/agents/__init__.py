"""The scorer's agents, one module each; importing this package registers them all."""

from streams.agents import join_faces, record_orders, score_sessions, track_conversions

__all__ = ["join_faces", "record_orders", "score_sessions", "track_conversions"]
