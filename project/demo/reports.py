"""The demo's report kinds, registered with taskhub the way any host registers its own."""

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate

from project.demo.models import Order
from taskhub import reports


def orders(params: dict[str, str]) -> QuerySet:
    start, end = reports.date_range(params)
    return (
        Order.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "pk")
        .values_list("number", "created_at", "customer_name", "customer_email", "amount")
    )


def sales_by_day(params: dict[str, str]) -> QuerySet:
    start, end = reports.date_range(params)
    return (
        Order.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(orders=Count("pk"), revenue=Sum("amount"))
        .order_by("day")
        .values_list("day", "orders", "revenue")
    )


def register() -> None:
    reports.register(
        reports.ReportKind(
            "orders", "Orders", ("number", "created_at", "customer", "email", "amount"), orders
        )
    )
    reports.register(
        reports.ReportKind(
            "sales_by_day", "Sales by day", ("day", "orders", "revenue"), sales_by_day, daily=True
        )
    )
