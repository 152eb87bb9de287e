"""Shared fixtures: generated mirrors in the real structure, served on 127.0.0.1 (like Scrapy's
own tests/mockserver). Helpers the tests import are in helpers.py."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from newsarchive.demo.mirrorgen import build_site, demo_posts, synthetic_posts
from newsarchive.demo.mockserver import MockServer

from helpers import GOLDEN, SEED_CODE


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
