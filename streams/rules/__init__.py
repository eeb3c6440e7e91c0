"""The pure rules the agents apply, one module per agent (and what two agents share)."""
