"""Keep the broker out of the request's latency."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from taskhub.delivery import confirms, outbox


class PublishAfterResponseMiddleware:
    """Messages a view commits to the outbox are published once the response has been
    sent to the client (Django's ``request_finished``, which the WSGI server sends when
    it closes the response), not before it: publishing costs a broker round trip and an
    UPDATE, and the row is already safe in the database.

    On RabbitMQ, the confirms of the tasks a view sends with ``.delay()`` are awaited
    once, when the view has returned, before the response leaves
    (``confirms.collected``): a view's tasks cost one round trip together, and each is
    with the broker, or in the outbox, when the user reads "done".
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        outbox.defer_until_response_sent()
        with confirms.collected():
            return self.get_response(request)
