"""Upstream tools that speak only the wire format: the station simulator and the demo.

They import schemas/, model/ and infra/kafka/ (the broker, topic creation, client
settings), never streams/: a station vendor's producer knows no more of the scorer."""
