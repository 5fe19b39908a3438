"""When the writer cannot keep up, the SDK is told to retry (503 + Retry-After), and
nothing it was told is lost."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from seawall.core.errors import Saturated
from seawall.gateway.app import create_app
from seawall.gateway.runtime import Runtime
from seawall.sink.server import running_sink
from tests.gateway.conftest import stack_config
from tests.support import serve_app, wait_for


def test_full_write_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    out = tmp_path / "sink.ndjson"
    with running_sink(out) as sink:
        cfg = stack_config(tmp_path, sink.url)
        cfg = cfg.model_copy(update={"gateway": cfg.gateway.model_copy(update={"max_queue": 10})})
        runtime = Runtime.build(cfg)
        release = threading.Event()
        try:
            with serve_app(create_app(cfg, runtime=runtime, forward=True)) as url:
                # Hold the single writer, then fill its queue: the store is saturated.
                holding = threading.Event()

                def hold(_conn: object) -> None:
                    holding.set()
                    release.wait(30)

                runtime.db.writer.submit(hold)
                assert holding.wait(10)
                fillers = []

                def fill() -> None:
                    for _ in range(11):  # the forwarder's claims queue up too
                        fillers.append(runtime.db.writer.submit(lambda _conn: None))

                with pytest.raises(Saturated):
                    fill()
                body = json.dumps(
                    [
                        {
                            "event": "Viewed",
                            "properties": {
                                "token": "demo-project-token",
                                "distinct_id": "d-1",
                                "$insert_id": "i-1",
                            },
                        }
                    ]
                )
                r = httpx.post(
                    f"{url}/track", data={"data": body}, params={"verbose": "1"}, timeout=30
                )
                assert r.status_code == 503
                assert r.headers["retry-after"] == "1"
                assert r.json()["status"] == 0
                release.set()
                for f in fillers:
                    f.result(10)
                # the SDK's retry is accepted and delivered
                r = httpx.post(
                    f"{url}/track", data={"data": body}, params={"verbose": "1"}, timeout=30
                )
                assert r.status_code == 200
                wait_for(lambda: out.exists() and out.read_text().count("Viewed") == 1)
                ready = httpx.get(f"{url}/readyz").json()
                assert ready["saturated"] is False
        finally:
            release.set()
            runtime.close()
