"""The project's settings, plus the benchmark-only views (``benchmarks.urls``) and a fast
password hasher: PBKDF2 would be 99% of every signup and hide what B1 measures."""

from project.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
