"""Shared fixtures: the app served on a free loopback port, and a gradio_client factory."""

from __future__ import annotations

import json
import os
import socket

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# Debian's Chromium, headless, with its background services off: this machine has no network
# beyond the package registries, and those services would only time out
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def app_demo():
    """Serve the real app on 127.0.0.1 for the whole test session and return its Blocks.

    A test can find the sessions in the Blocks' `state_holder`. The server is closed at the end."""
    from charembed.ui import build_demo, launch_options

    demo = build_demo()
    demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **launch_options(),
    )
    yield demo
    demo.close()


@pytest.fixture(scope="session")
def app_url(app_demo):
    """The address of the app served by `app_demo`."""
    return app_demo.local_url


@pytest.fixture
def new_client(app_url):
    """Return a function that opens a new gradio_client session (a new visitor) on the app."""
    from gradio_client import Client

    def connect():
        return Client(app_url, verbose=False, download_files=False)

    return connect


def plot_traces(plot_output) -> list[dict]:
    """Return the Plotly traces of a gr.Plot output as gradio_client delivers it."""
    figure = plot_output["plot"] if isinstance(plot_output, dict) else plot_output
    if isinstance(figure, str):
        figure = json.loads(figure)
    return figure["data"]


def decode_array(values) -> list[float]:
    """Plotly JSON stores numpy arrays as {"dtype", "bdata"} (base64); plain lists pass through."""
    import base64

    import numpy as np

    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)
