"""Measurements, run as ``python -m kit.bench NAME`` (never as timed unit tests).

- ``startup``: how long a lesson waits for ``kit.serve``, the first round trip, and stop.
"""
