from django.http import HttpRequest, JsonResponse

from taskhub.tasks import welcome


def signup_ping(request: HttpRequest, email: str) -> JsonResponse:
    """The host's view: sends taskhub's welcome as any view of its own would."""
    return JsonResponse({"task_id": welcome.delay(email).id})
