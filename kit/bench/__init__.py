"""Measurements, run as ``python -m kit.bench NAME`` (never as timed unit tests).

- ``startup``: how long a lesson waits for ``kit.serve``, the first round trip, and stop.
- ``fanout``: one socket.io server broadcasting to N clients in a room: lost deliveries
  (must be 0), deliveries/s, server CPU per delivery, latency.
"""
