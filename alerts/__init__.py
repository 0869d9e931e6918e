"""Alert delivery and lifecycle: everything after the engine returns an ``Alert``.

Conventions
-----------
- ``alerts`` imports ``monitor`` only (never ``streams`` or ``riskmon``); it is an adapter, given
  its clients (``httpx.Client``, a Kafka send function, an ``AlertStore``, a
  ``CollectorRegistry``) by the entry points, never globals.
- :class:`~alerts.pipeline.AlertPipeline` takes ``add(alert)`` per record and ``flush()`` at
  commit: route (:mod:`alerts.routing`), silence, group (:mod:`alerts.notification`), rate-limit,
  then each sink (:mod:`alerts.sinks`) delivers with its own retries. One failing sink blocks no
  other; commit input offsets only when the flush report is ``ok``.
- ``alert_id`` is the idempotency key everywhere: the store upserts by it, Kafka keys by it.
- The store (:mod:`alerts.store`) keeps the lifecycle ``open → acknowledged → resolved |
  false_positive`` with a hash-chained, append-only history of who did what, when and why.
- Errors derive from :class:`alerts.errors.AlertsError`, itself a ``MonitorError``.
"""
