"""Links to pages taskhub does not own: the host's login, logout and admin, wherever
the host put them (or nowhere)."""

from typing import Any

from django import template
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse

from taskhub import conf

register = template.Library()


@register.simple_tag
def login_url() -> str:
    """``settings.LOGIN_URL``, as a URL name or a path."""
    return resolve_url(settings.LOGIN_URL)


@register.simple_tag
def logout_url() -> str:
    """``TASKHUB_LOGOUT_URL``, as a URL name or a path; "" when the host has no such page."""
    target = conf.get("LOGOUT_URL")
    if not target:
        return ""
    try:
        return resolve_url(target)
    except NoReverseMatch:
        return ""


@register.simple_tag
def url_if_any(name: str, *args: Any) -> str:
    """``{% url %}`` that answers "" when the host has no such page."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""
