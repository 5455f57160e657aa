"""Version of the activejob-celery distribution (read by hatch at build time)."""

__version__ = "0.1.0"
