"""Row 6 for the stream function: the peak memory of its process (uvicorn serving the app, as behind the Web
Adapter) after a run of streamed answers."""

from __future__ import annotations

import http.client
import json

from infra.bench.first_delta import SOCKET_TIMEOUT_SECONDS, StreamProcess, adapter_headers
from infra.bench.report import Row, Target
from infra.bench.world import World

TARGET = Target(150, "MB")


def measure(world: World, requests: int) -> list[Row]:
    body = json.dumps({"prompt": "Count for me."}).encode()
    with StreamProcess(world.environment("stream")) as app:
        app.wait_until_ready()
        for _ in range(requests):
            # The fake's demo answer, as fast as the socket allows: memory, not pace, is measured here.
            connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=SOCKET_TIMEOUT_SECONDS)
            try:
                connection.request("POST", "/", body, {"content-type": "application/json", **adapter_headers(body)})
                response = connection.getresponse()
                response.read()
            finally:
                connection.close()
            if response.status != 200:
                raise RuntimeError(f"the stream answered {response.status}")
        rss = app.peak_rss_mb()
    return [Row("warm peak RSS: stream", f"{rss:.1f} MB", f"after {requests} streams", rss, TARGET)]
