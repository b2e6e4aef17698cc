"""The demo's orders, made for the tests that need report data."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from project.demo.models import Order

DAY = date(2026, 3, 14)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.get_current_timezone())


def make_orders(
    count: int, day: date = DAY, name: str = "Ada Lovelace", amount: str = "9.99"
) -> None:
    """``count`` orders on ``day``, a second apart from noon, in the current time zone."""
    Order.objects.bulk_create(
        Order(
            number=f"N{day:%Y%m%d}-{i:06d}",
            customer_name=name,
            customer_email="ada@example.com",
            amount=Decimal(amount),
            created_at=at(day) + timedelta(seconds=i),
        )
        for i in range(count)
    )
