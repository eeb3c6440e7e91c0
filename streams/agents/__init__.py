"""The scorer's agents and timers, thin adapters from Faust's streams to the stages of
streams/pipeline.py; importing this package registers them all."""

from streams.agents import join_faces, record_orders, score_sessions, track_conversions, upkeep

__all__ = ["join_faces", "record_orders", "score_sessions", "track_conversions", "upkeep"]
