"""Under ASGI a streamed export is sent part by part, never read whole into memory first."""

from __future__ import annotations

import threading

from django.test import AsyncRequestFactory, RequestFactory

from core.streaming import streaming_response


async def test_under_asgi_parts_are_pulled_one_at_a_time():
    made: list[int] = []
    threads: set[int] = set()

    def parts():
        for n in range(3):
            made.append(n)
            threads.add(threading.get_ident())
            yield f"part{n}".encode()

    response = streaming_response(AsyncRequestFactory().get("/"), parts())
    assert response.is_async
    seen = []
    async for chunk in response.streaming_content:
        seen.append(chunk)
        assert len(made) == len(seen)  # the next part is made only when asked for
    assert seen == [b"part0", b"part1", b"part2"]
    assert len(threads) == 1  # one sync thread: one database connection throughout


def test_under_wsgi_the_iterator_is_used_as_it_is():
    response = streaming_response(RequestFactory().get("/"), iter([b"a", b"b"]))
    assert not response.is_async
    assert b"".join(response.streaming_content) == b"ab"
