"""How a store's URL is shown (pure: no I/O): never with its password."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["safe_url"]


def safe_url(url: str) -> str:
    """The URL without its password (``redis://user:***@host:6379/0``), for messages and outputs
    a notebook keeps; anything without a password (a path, ``:memory:``) as it is."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
