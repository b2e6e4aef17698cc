"""Keep the broker out of the request's latency."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from taskhub.delivery import outbox


class PublishAfterResponseMiddleware:
    """Messages a view commits to the outbox are published once the response has been
    sent to the client (Django's ``request_finished``, which the WSGI server sends when
    it closes the response), not before it: publishing costs a broker round trip and an
    UPDATE, and the row is already safe in the database.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        outbox.defer_until_response_sent()
        return self.get_response(request)
