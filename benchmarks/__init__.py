"""Benchmarks of the booking service (``make bench``, or ``python -m benchmarks [--quick]``).

- ``availability``: the availability engine (in-memory timeline per pool) against the
  seed design's SQL (``generate_series`` of slots joined to the bookings), on PostgreSQL,
  for 10k and 100k bookings in a year, a month at hour grain and the year at day grain;
  directly through the service layer (warm and cold cache) and through a real hub and
  configurable-http-proxy.
- ``admission``: booking throughput of 64 concurrent HTTP clients through the hub's proxy,
  against one and two booking-service processes on PostgreSQL and one on SQLite, with an
  exact sweep afterwards proving that no moment is overbooked.

See docs/performance.md for what the numbers mean.
"""
