"""Models of the Django test app (no GlobalID code in them)."""

from __future__ import annotations

from django.db import models


class HiddenManager(models.Manager):  # type: ignore[type-arg]
    """A default manager that hides archived rows (the locator must not use it)."""

    def get_queryset(self) -> models.QuerySet:  # type: ignore[type-arg]
        return super().get_queryset().filter(archived=False)


class Customer(models.Model):
    name = models.CharField(max_length=50)
    archived = models.BooleanField(default=False)

    objects = HiddenManager()
    every = models.Manager()

    class Meta:
        app_label = "shop"
