"""``ftdecide.retry_after_seconds``: the one reading of a server's request to wait."""

from __future__ import annotations

import email.utils
import time

import pytest

from ftdecide import retry_after_seconds


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after": "3"}, 3.0),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the finer one wins
    ({"retry-after": "600"}, 60.0),                         # capped
    ({"retry-after": "soon"}, None),                        # not a number, not a date
    ({"retry-after": "-4"}, None),                          # not a request to wait
    ({}, None),
    (None, None),
])
def test_header_spellings(headers, expected):
    assert retry_after_seconds(headers, cap=60.0) == expected


def test_an_http_date_is_the_seconds_until_it_and_a_past_date_asks_nothing():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": later}, cap=60.0) <= 30
    earlier = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after_seconds({"retry-after": earlier}, cap=60.0) is None


@pytest.mark.parametrize("url, shown", [
    ("https://user:key@host.example:8000/v1?api-key=s3cret#x", "https://host.example:8000/v1"),
    ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1/"),
    ("not a url", "not a url"),
])
def test_a_server_address_is_named_without_its_credentials(url, shown):
    from ftdecide import url_without_credentials

    assert url_without_credentials(url) == shown
