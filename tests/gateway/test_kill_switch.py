"""The kill switch: two gateway processes share PostgreSQL; after `vendors disable`,
no request reaches the vendor within a second, and held events drain on enable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from seawall.sink.records import read_records
from seawall.sink.server import running_sink
from tests.conftest import postgres_schema
from tests.gateway.conftest import EXAMPLE
from tests.gateway.procs import GatewayProcess, write_config
from tests.support import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SEAWALL_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "seawall", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_disable_stops_every_process_within_a_second(tmp_path: Path) -> None:
    out = tmp_path / "sink.ndjson"
    with postgres_schema() as db_url, running_sink(out) as sink:
        data = json.loads(json.dumps(EXAMPLE))
        data["vendors"]["mixpanel"]["endpoint"] = sink.url
        data["database"] = db_url
        data["keys_dir"] = str(tmp_path / "keys")
        cfg = write_config(tmp_path / "seawall.yaml", data)
        gateways = [GatewayProcess(cfg).start(), GatewayProcess(cfg).start()]
        stop = threading.Event()
        sent = [0]

        def load() -> None:
            with httpx.Client(timeout=5) as client:
                while not stop.is_set():
                    for gw in gateways:
                        body = json.dumps(
                            [
                                {
                                    "event": "Viewed",
                                    "properties": {
                                        "token": "demo-project-token",
                                        "distinct_id": "d",
                                        "$insert_id": f"i{sent[0]}",
                                    },
                                }
                            ]
                        )
                        client.post(f"{gw.url}/track", data={"data": body})
                        sent[0] += 1
                    time.sleep(0.01)

        loader = threading.Thread(target=load)
        loader.start()
        try:
            wait_for(lambda: len(read_records(out)) > 20)
            result = _cli("vendors", "disable", "mixpanel", "--config", str(cfg))
            assert result.returncode == 0, result.stderr
            disabled_at = time.time()
            time.sleep(2.5)  # traffic keeps coming in meanwhile
            lines = read_records(out)
            late = [line for line in lines if line["received_at"] > disabled_at + 1.0]
            assert late == [], f"{len(late)} messages reached the vendor after disable"
            assert _cli("vendors", "list", "--config", str(cfg), "--json").returncode == 0
            before = len(lines)
            stop.set()
            loader.join()
            assert _cli("vendors", "enable", "mixpanel", "--config", str(cfg)).returncode == 0
            # the events held meanwhile drain once the vendor is enabled again
            wait_for(lambda: len(read_records(out)) >= sent[0], timeout=30)
            assert len(read_records(out)) > before
        finally:
            stop.set()
            loader.join()
            for gw in gateways:
                gw.stop()
