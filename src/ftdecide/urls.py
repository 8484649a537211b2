"""A server address fit to show or store: no credentials, no query string.

Base URLs can carry secrets (``https://user:key@host/v1?api-key=…``); every
place that names a server (error messages, the upload log, the bench store,
the answer cache key) uses this one reading so none of them leaks one.
"""

from __future__ import annotations

__all__ = ["url_without_credentials"]


def url_without_credentials(url: str) -> str:
    """``url`` as scheme://host[:port]/path, without user, password, query or fragment
    (``https://u:pw@host:8000/v1?key=…`` → ``https://host:8000/v1``); unchanged when it
    has no host (not a URL we can take apart)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return url
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
