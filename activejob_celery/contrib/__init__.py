"""Integrations with frameworks that are optional extras: Django and SQLAlchemy.

Nothing here is imported by ``import activejob_celery``; each module imports its framework.
"""
