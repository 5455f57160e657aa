"""The shop's jobs (found by the Django app: every installed app's ``jobs`` module)."""

import logging

from activejob_celery import ApplicationJob, DeserializationError, discard_on

from .models import Order

logger = logging.getLogger(__name__)


class ConfirmOrderJob(ApplicationJob):
    """Takes the Order itself: it travels as gid://django/orders.Order/<pk>."""

    discard_on(DeserializationError)  # the order was deleted before the job ran

    def perform(self, order: Order) -> None:
        order.confirmed = True
        order.save(update_fields=["confirmed"])
        logger.warning("confirmed %s", order)


class OrderReportJob(ApplicationJob):
    """Recurring (settings.CELERY_ACTIVEJOB_RECURRING_SCHEDULE): counts the orders."""

    def perform(self) -> None:
        total = Order.objects.count()
        confirmed = Order.objects.filter(confirmed=True).count()
        logger.warning("%d orders, %d confirmed", total, confirmed)
