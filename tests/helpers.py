"""Helpers the tests import (``from helpers import …``): the golden seed's names and a runner for the
``newsarchive`` command in a fresh process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from newsarchive.demo.mockserver import MockServer

GOLDEN = Path(__file__).parent / "golden"
SEED = GOLDEN / "2021-12-24-NW202112242225123833.md"
SEED_CODE = "NW202112242225123833"
SEED_SHARE = f"http://finews.zning.xyz/html_News/NewsShare.html?infoCode={SEED_CODE}"


def run_cli(*args, server: MockServer | None = None, cwd=None, timeout=120, env=None) -> subprocess.CompletedProcess:
    """``newsarchive ARGS`` in a fresh process, the share host reached through ``server``."""
    environ = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    if server is not None:
        environ["http_proxy"] = server.url
        environ["no_proxy"] = "127.0.0.1,localhost"
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "newsarchive", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=environ)
