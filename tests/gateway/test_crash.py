"""Ack after commit: kill -9 the gateway under load; every acknowledged event arrives."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from seawall.core.keys import KeyRing
from seawall.policy.engine import dedupe_key
from seawall.sink.records import read_records
from seawall.sink.server import running_sink
from tests.gateway.conftest import EXAMPLE
from tests.gateway.procs import GatewayProcess, write_config
from tests.support import wait_for

pytestmark = pytest.mark.slow


def _batch(worker: int, n: int, size: int) -> tuple[list[str], str]:
    ids = [f"w{worker}-b{n}-e{i}" for i in range(size)]
    events = [
        {
            "event": "Viewed",
            "properties": {
                "token": "demo-project-token",
                "distinct_id": f"user-{worker}-{i}",
                "$insert_id": iid,
                "$email": f"person{worker}x{i}@example.com",
                "$browser": "Chrome",
                "time": time.time(),
            },
        }
        for i, iid in enumerate(ids)
    ]
    return ids, json.dumps(events)


def test_kill9_loses_no_acknowledged_event(tmp_path: Path) -> None:
    out = tmp_path / "sink.ndjson"
    with running_sink(out) as sink:
        data = json.loads(json.dumps(EXAMPLE))
        data["vendors"]["mixpanel"]["endpoint"] = sink.url
        data["vendors"]["mixpanel"]["timeout_seconds"] = 2  # rows leased by the dead process
        data["database"] = f"sqlite:///{tmp_path / 'seawall.db'}"
        data["keys_dir"] = str(tmp_path / "keys")
        cfg = write_config(tmp_path / "seawall.yaml", data)
        gw = GatewayProcess(cfg).start()
        acked: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def load(worker: int) -> None:
            n = 0
            with httpx.Client(timeout=5) as client:
                while not stop.is_set() and n < 2000:
                    ids, body = _batch(worker, n, 20)
                    n += 1
                    try:
                        r = client.post(f"{gw.url}/track", data={"data": body})
                    except httpx.HTTPError:
                        continue  # not acknowledged: the SDK would retry
                    if r.status_code == 200 and r.text == "1":
                        with lock:
                            acked.extend(ids)

        threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) > 400, timeout=30)
        gw.kill9()
        stop.set()
        for t in threads:
            t.join()
        killed_at = len(acked)
        assert killed_at > 400

        restarted = GatewayProcess(cfg, port=gw.port).start()
        try:

            def delivered() -> set[str]:
                lines = read_records(out)
                return {line["message"]["properties"]["$insert_id"] for line in lines}

            key = KeyRing(tmp_path / "keys").vendor_key("mixpanel")
            expected = {dedupe_key(key, i) for i in acked}  # the vendor's dedupe keys
            wait_for(lambda: expected <= delivered(), timeout=60, interval=0.5)
            text = out.read_text()
            assert "@example.com" not in text  # nothing arrived un-minimised
            assert "user-0-" not in text
        finally:
            restarted.stop()
