"""Create many orders quickly (``bulk_create`` in batches), with a progress bar."""

import random
import secrets
import sys
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from project.demo.models import Order

FIRST = (
    "Ada",
    "Alan",
    "Grace",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Linus",
    "Guido",
    "Frances",
)
LAST = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Torvalds")


class Command(BaseCommand):
    help = "Create COUNT random orders spread over the last DAYS days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("count", type=int, help="how many orders to create")
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--batch", type=int, default=10_000)
        parser.add_argument("--seed", type=int, default=None, help="for repeatable data")

    def handle(self, count: int, days: int, batch: int, seed: int | None, **options) -> None:
        if count < 0 or days < 1 or batch < 1:
            self.stderr.write("count must be >= 0, days and batch >= 1")
            sys.exit(2)
        rng = random.Random(seed)
        prefix = secrets.token_hex(4)
        now = timezone.now()
        span = days * 24 * 3600
        made = 0
        while made < count:
            size = min(batch, count - made)
            orders = []
            for i in range(made, made + size):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                orders.append(
                    Order(
                        number=f"{prefix}-{i:08d}",
                        customer_name=f"{first} {last}",
                        customer_email=f"{first}.{last}{i % 1000}@example.com".lower(),
                        amount=Decimal(rng.randint(100, 50_000)) / 100,
                        created_at=now - timedelta(seconds=rng.randrange(span)),
                    )
                )
            with transaction.atomic():
                Order.objects.bulk_create(orders, batch_size=size)
            made += size
            self.progress(made, count)
        self.stdout.write(f"\ncreated {made} orders")

    def progress(self, done: int, total: int, width: int = 40) -> None:
        filled = width * done // max(total, 1)
        self.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending="")
        self.stdout.flush()
