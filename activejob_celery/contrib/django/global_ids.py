"""Django models as GlobalIDs: ``gid://<app>/<app_label.ModelName>/<pk>``, located unscoped."""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models

from ...global_id import GlobalID, add_identifier, add_locator, check_app_name

DEFAULT_APP = "django"


class DjangoLocator:
    """Finds records by ``Model._base_manager`` (default managers' filters do not hide them).

    Example:
        >>> DjangoLocator()(GlobalID.parse("gid://django/auth.User/1"))   # doctest: +SKIP
        <User: alice>
    """

    def __call__(self, gid: GlobalID) -> object:
        """The record, or None when it does not exist."""
        model = self.model(gid)
        try:
            return model._base_manager.get(pk=gid.model_id)
        except (model.DoesNotExist, ValueError, TypeError, ValidationError):
            return None  # a key of the wrong form names no record either

    def locate_many(self, gids: Sequence[GlobalID]) -> list[object]:
        """The records of one model in the order given, in one query (None for missing ones)."""
        model = self.model(gids[0])
        field = model._meta.pk
        keys = [field.to_python(gid.model_id) for gid in gids]
        found = model._base_manager.in_bulk(list(set(keys)))
        return [found.get(key) for key in keys]

    @staticmethod
    def model(gid: GlobalID) -> type[models.Model]:
        """The model class a GlobalID names (LookupError when it names none)."""
        model: type[models.Model] = apps.get_model(gid.model_name)
        return model


def install(app_name: str = DEFAULT_APP) -> None:
    """Let Django models travel as GlobalIDs of ``app_name`` (called by the app's ``ready``).

    Example:
        >>> install("shop")                                     # doctest: +SKIP
    """
    check_app_name(app_name)

    def identify(value: object) -> GlobalID | None:
        if not isinstance(value, models.Model):
            return None
        return GlobalID(app_name, value._meta.label, value.pk)

    add_identifier(identify)
    add_locator(app_name, DjangoLocator())
