"""Which address is the end user's, behind a trusted proxy."""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import Headers

from seawall.core.config import parse_config
from seawall.gateway.runtime import Runtime, forwarded_for
from tests.gateway.conftest import stack_config


def _runtime(tmp_path: Path) -> Runtime:
    data = stack_config(tmp_path, "http://127.0.0.1:9").model_dump(mode="json")
    data["gateway"]["trusted_proxies"] = ["10.0.0.0/8"]
    return Runtime.build(parse_config(data, base_dir=str(tmp_path)))


def test_every_forwarded_for_line_counts_not_only_the_clients(tmp_path: Path) -> None:
    # The client sends its own X-Forwarded-For; the proxy adds a line of its own
    # rather than appending (HAProxy's option forwardfor does this).
    headers = Headers(raw=[(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"203.0.113.77")])
    assert forwarded_for(headers) == "6.6.6.6, 203.0.113.77"
    rt = _runtime(tmp_path)
    try:
        assert rt.client_ip("10.0.0.5", forwarded_for(headers)) == "203.0.113.77"
        assert rt.client_ip("198.51.100.1", forwarded_for(headers)) == "198.51.100.1"
        assert rt.client_ip("10.0.0.5", forwarded_for(Headers(raw=[]))) == "10.0.0.5"
    finally:
        rt.close()
