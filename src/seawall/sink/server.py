"""Run the sink on a real socket: in the foreground (``seawall sink``) or in a
background thread (tests, ``seawall demo``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from seawall.sink.app import create_app

__all__ = ["RunningSink", "free_port", "running_sink", "serve"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _config(out: Path, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(out), host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )


def serve(out: Path, host: str = "127.0.0.1", port: int = 9100) -> None:
    """Serve until interrupted."""
    uvicorn.Server(_config(out, host, port)).run()


@dataclass(frozen=True, slots=True)
class RunningSink:
    url: str
    out: Path


@contextmanager
def running_sink(
    out: Path, host: str = "127.0.0.1", port: int | None = None, start_timeout: float = 10.0
) -> Iterator[RunningSink]:
    """The sink served by uvicorn in a daemon thread for the duration of the block."""
    port = port or free_port(host)
    server = uvicorn.Server(_config(out, host, port))
    thread = threading.Thread(target=server.run, name=f"seawall-sink-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the sink did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield RunningSink(url=f"http://{host}:{port}", out=out)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
