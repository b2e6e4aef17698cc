"""The images API: list and upload (``/api/images/``), read and delete one, try a failed
one again."""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from taskhub.api import ApiError, api_view, find, visible
from taskhub.images import uploads
from taskhub.models import Image

#: Room for the multipart envelope around a file of the largest size accepted.
MULTIPART_OVERHEAD = 64 * 1024


def image_json(image: Image) -> dict[str, Any]:
    return {
        "id": image.pk,
        "status": image.status,
        "error": image.error,
        "url": image.original.url,
        "name": image.original_name,
        "thumbnails": [
            {
                "size": t.size,
                "format": t.format,
                "width": t.width,
                "height": t.height,
                "url": t.file.url,
            }
            for t in image.thumbnails.all()
        ],
    }


def live_images(user: Any) -> Any:
    return visible(Image.objects.filter(deleted_at__isnull=True), user)


@api_view(["GET", "POST"], content_types={"POST": ["multipart/form-data"]})
def api_images(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        images = live_images(request.user).prefetch_related("thumbnails")[:100]
        return JsonResponse({"images": [image_json(i) for i in images]})
    limit = uploads.max_upload_bytes()
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + MULTIPART_OVERHEAD:
        raise ApiError(413, uploads.too_large_message(limit))
    unknown = (set(request.POST) - {"csrfmiddlewaretoken"}) | (set(request.FILES) - {"file"})
    if unknown:
        raise ApiError(
            400, f"unknown fields: {', '.join(sorted(unknown))}", unknown=sorted(unknown)
        )
    try:
        image = uploads.accept(request.user, request.FILES.get("file"))
    except uploads.UploadTooLarge as exc:
        raise ApiError(413, str(exc)) from None
    except uploads.UploadRefused as exc:
        raise ApiError(400, str(exc), fields=exc.fields) from None
    url = reverse("taskhub:api-image", args=[image.pk])
    return JsonResponse({"id": image.pk, "status": image.status, "url": url}, status=202)


@api_view(["GET", "DELETE"])
def api_image(request: HttpRequest, pk: int) -> HttpResponse:
    image = find(live_images(request.user).prefetch_related("thumbnails"), pk, "image")
    if request.method == "DELETE":
        uploads.delete(image)
        return HttpResponse(status=204)
    return JsonResponse(image_json(image))


@api_view(["POST"])
def api_image_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Its owner (or staff) queues a failed image's thumbnails again: 202, or 409 and why."""
    image = find(live_images(request.user), pk, "image")
    try:
        image = uploads.retry(image)
    except uploads.NotRetryable as exc:
        raise ApiError(409, str(exc)) from None
    return JsonResponse(image_json(image), status=202)
