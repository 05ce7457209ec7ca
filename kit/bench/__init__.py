"""Measurements, run as ``python -m kit.bench NAME`` (never as timed unit tests).

- ``startup``: how long a lesson waits for ``kit.serve``, the first round trip, and stop.
- ``fanout``: one socket.io server broadcasting to N clients in a room: lost deliveries
  (must be 0), deliveries/s, server CPU per delivery, latency.
- ``codecs``: the pure codecs' throughput.
- ``push``: short polling, long-polling, server-sent events and WebSocket delivering the
  same news to 1-200 clients: delay, bytes per news item, requests while idle
  (:mod:`kit.bench.push`, drawn by :mod:`kit.bench.plots`; lesson 00 uses both).
"""
