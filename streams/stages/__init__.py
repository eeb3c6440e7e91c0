"""The stages a session passes through, each an object that owns its state.

streams/pipeline.py makes one of each and hands each what it needs; the agents in
streams/agents/ only feed them what Faust delivers.
"""
