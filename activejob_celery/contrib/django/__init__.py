"""Django integration: add ``"activejob_celery.contrib.django"`` to ``INSTALLED_APPS``.

At startup the app (see :mod:`.apps`) copies ``CELERY_ACTIVEJOB_*`` settings onto the project's
Celery app and calls ``init_app`` unless that was done, imports each installed app's ``jobs``
module, lets any model travel as a GlobalID (``gid://django/<app_label.ModelName>/<pk>``, no code
in the model, ``auth.User`` included) and defers enqueues of jobs with
``enqueue_after_transaction_commit`` to ``transaction.on_commit(..., robust=True)``.

Example:
    >>> INSTALLED_APPS = [..., "activejob_celery.contrib.django"]   # doctest: +SKIP
    >>> NotifyJob.perform_later(request.user, "welcome")          # doctest: +SKIP
"""
