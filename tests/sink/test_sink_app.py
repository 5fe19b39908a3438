"""The local vendor sink, served by uvicorn on 127.0.0.1, driven over real HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer import Typer
from typer.testing import CliRunner

from seawall.cli.sink import register
from seawall.sink.records import read_records
from seawall.sink.server import RunningSink, running_sink


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSink]:
    with running_sink(tmp_path_factory.mktemp("sink") / "received.ndjson") as running:
        yield running


@pytest.fixture
def http(sink: RunningSink) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sink.url, timeout=5) as client:
        client.post("/_sink/reset")
        yield client


def lines(sink: RunningSink) -> list[dict[str, Any]]:
    return read_records(sink.out)


def test_mixpanel_track_form_base64_with_verbose(http: httpx.Client, sink: RunningSink) -> None:
    events = [{"event": "e1", "properties": {"token": "t", "$insert_id": "i1"}}]
    data = base64.b64encode(json.dumps(events).encode()).decode()
    before = len(lines(sink))
    r = http.post(
        "/track/",
        data={"data": data, "verbose": "1"},
        headers={"X-Forwarded-For": "198.51.100.7", "Cookie": "mp_t_mixpanel=x"},
    )
    assert r.json() == {"status": 1, "error": None}
    (line,) = lines(sink)[before:]
    assert line["api"] == "mixpanel"
    assert line["endpoint"] == "track"
    assert line["message"] == events[0]
    assert line["headers"]["x-forwarded-for"] == "198.51.100.7"
    assert line["headers"]["cookie"] == "mp_t_mixpanel=x"
    assert isinstance(line["received_at"], float)


@pytest.mark.parametrize("endpoint", ["/engage", "/groups"])
def test_mixpanel_json_data_and_get(http: httpx.Client, endpoint: str) -> None:
    message = {"$token": "t", "$distinct_id": "d", "$set": {"a": 1}}
    assert http.post(endpoint, data={"data": json.dumps([message])}).text == "1"
    assert http.get(endpoint, params={"data": json.dumps(message)}).text == "1"
    assert http.get("/_sink/count").json() == {"requests": 2, "messages": 2}


@pytest.mark.parametrize("body", [b"data=%%%", b"data=bm90IGpzb24=", b"", b"data=[1,2]"])
def test_mixpanel_bad_payload_is_400_and_not_recorded(http: httpx.Client, body: bytes) -> None:
    r = http.post(
        "/track?verbose=1",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    assert r.json()["status"] == 0
    assert http.get("/_sink/count").json()["messages"] == 0


def test_import_needs_basic_auth_and_reports_strict_failures(
    http: httpx.Client, sink: RunningSink
) -> None:
    good = {"event": "e", "properties": {"time": 1, "$insert_id": "ok"}}
    bad = {"event": "e", "properties": {"$insert_id": "no-time"}}
    assert http.post("/import", json=[good]).status_code == 401
    r = http.post("/import?strict=1", json=[good, bad], auth=("secret", ""))
    assert r.status_code == 400
    body = r.json()
    assert body["num_records_imported"] == 1
    assert body["failed_records"][0]["insert_id"] == "no-time"
    assert lines(sink)[-1]["message"] == good
    r = http.post("/import?strict=1", json=[good], auth=("secret", ""))
    assert r.json() == {"code": 200, "num_records_imported": 1, "status": "OK"}


def test_segment_batch_and_single_calls(http: httpx.Client, sink: RunningSink) -> None:
    batch = [{"type": "track", "event": "e", "messageId": "m1", "userId": "u"}]
    assert http.post("/v1/batch", json={"batch": batch}).status_code == 401
    r = http.post("/v1/batch", json={"batch": batch}, auth=("wk", ""))
    assert r.json() == {"success": True}
    assert http.post("/v1/i", json={"writeKey": "wk", "userId": "u"}).status_code == 200
    last = lines(sink)[-2:]
    assert last[0]["message"] == batch[0]
    assert last[0]["api"] == "segment"
    assert last[1]["message"] == {"userId": "u", "type": "identify"}
    assert last[1]["endpoint"] == "identify"


def test_segment_limits_are_enforced(http: httpx.Client) -> None:
    huge = {"type": "track", "event": "e", "properties": {"x": "a" * 33_000}}
    assert http.post("/v1/batch", json={"batch": [huge]}, auth=("wk", "")).status_code == 400


def test_fault_injection_status_retry_after_and_count(http: httpx.Client) -> None:
    http.post("/_sink/fail", json={"status": 429, "count": 2, "retry_after": 3})
    for _ in range(2):
        r = http.post("/track", data={"data": "{}"})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "3"
    assert http.post("/track", data={"data": '{"event": "e"}'}).text == "1"
    log = http.get("/_sink/requests").json()
    assert [entry["status"] for entry in log] == [429, 429, 200]


def test_fault_injection_delay_is_a_hang(http: httpx.Client) -> None:
    http.post("/_sink/fail", json={"count": 1, "delay": 0.5})
    with pytest.raises(httpx.ReadTimeout):
        http.post("/track", data={"data": '{"event": "e"}'}, timeout=0.1)
    started = time.monotonic()
    assert http.post("/track", data={"data": '{"event": "e"}'}).text == "1"
    assert time.monotonic() - started < 0.5


def test_message_limit_answers_413(http: httpx.Client) -> None:
    http.post("/_sink/limit", json={"max_messages": 1})
    two = json.dumps([{"event": "a"}, {"event": "b"}])
    assert http.post("/track", data={"data": two}).status_code == 413
    assert http.post("/track", data={"data": '{"event": "a"}'}).status_code == 200


def test_cli_registers_the_sink_command(tmp_path: Path) -> None:
    app = Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps Typer from collapsing to one
        """Placeholder."""

    result = CliRunner().invoke(app, ["sink", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output
    assert "--out" in result.output


def test_a_half_written_record_is_left_for_the_next_read(tmp_path: Path) -> None:
    out = tmp_path / "sink.ndjson"
    assert read_records(out) == []
    out.write_bytes(b'{"endpoint": "track", "n": 1}\n{"endpoint": "tra')
    assert read_records(out) == [{"endpoint": "track", "n": 1}]
    with out.open("ab") as fh:
        fh.write(b'ck", "n": 2}\n')
    assert [r["n"] for r in read_records(out)] == [1, 2]
