"""Shared fixtures: generated mirrors in the real structure, served on 127.0.0.1 (like Scrapy's
own tests/mockserver), and a runner for the ``newsarchive`` command in a subprocess."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from newsarchive.demo.mirrorgen import build_site, demo_posts, synthetic_posts
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


@pytest.fixture
def seed_fixture(tmp_path) -> Path:
    """A share host that knows the seed's article (and nothing else)."""
    (tmp_path / "site").mkdir()
    (tmp_path / "upstream").mkdir()
    shutil.copy(GOLDEN / f"{SEED_CODE}.json", tmp_path / "upstream")
    return tmp_path


@pytest.fixture
def seed_server(seed_fixture):
    with MockServer(seed_fixture) as server:
        yield server


@pytest.fixture
def demo_mirror(tmp_path):
    """The bundled demo mirror (36 posts, 6 categories, GB18030 page, widgets, old format)."""
    posts = demo_posts()
    folder = build_site(posts, tmp_path / "mirror", page_size=4)
    with MockServer(folder) as server:
        server.posts = posts
        server.folder = folder
        yield server


@pytest.fixture
def small_mirror(tmp_path):
    posts = synthetic_posts(12, seed=11, media=["南方日报", "上海证券报", "中国银行"])
    folder = build_site(posts, tmp_path / "mirror")
    with MockServer(folder) as server:
        server.posts = posts
        server.folder = folder
        yield server
