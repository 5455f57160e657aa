"""A view that writes a row and enqueues a job with it, in one transaction."""

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .jobs import ConfirmOrderJob
from .models import Order


@csrf_exempt
def create_order(request: HttpRequest) -> JsonResponse:
    with transaction.atomic():
        order = Order.objects.create(item=request.GET.get("item", "book"))
        job = ConfirmOrderJob.perform_later(order)  # published after COMMIT, id known now
    assert job
    return JsonResponse({"order": order.pk, "job_id": job.job_id, "task_id": job.provider_job_id})
