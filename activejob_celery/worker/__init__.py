"""Worker-side parts kept in Redis: per-minute job counters, per-class statistics, paused queues.

Every worker runs these (``init_app`` wires them); the dashboard (:mod:`activejob_celery.web`)
and the CLI only read what they write.

Example:
    >>> from activejob_celery.worker import pausing
    >>> pausing.paused_queues(app)                              # doctest: +SKIP
    {}
"""
