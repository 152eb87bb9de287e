"""``newsarchive import``: the mirror's own source read the crawl's way — a tree gives the very bytes
a crawl gives, a git history gives the newest texts with the older ones as revisions and first/last
seen from the commits — idempotent, newest wins, and a PATH that is none of those is a usage error."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from newsarchive.core.dates import BEIJING
from newsarchive.demo.mirrorgen import build_site, synthetic_posts
from newsarchive.demo.mockserver import MockServer

from helpers import run_cli

pytestmark = pytest.mark.e2e
START = dt.datetime(2026, 9, 1, 8, 0, tzinfo=BEIJING)
GIT = shutil.which("git")


def _files(out: Path) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for d in ("_posts", "old_post") if (out / d).is_dir()
            for p in (out / d).glob("*.md")}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    posts = synthetic_posts(25, seed=29, media=["南方日报", "21世纪经济报道 21财经APP", "安信国际证券(香港)"], start=START)
    posts[2].digest = "摘要：央行宣布降准"
    posts[4].share = False
    folder = build_site(posts, tmp_path_factory.mktemp("mirror"))
    out = tmp_path_factory.mktemp("crawl") / "a"
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, "--no-share", server=server).returncode == 0
    return out


def test_a_tree_import_gives_the_bytes_a_crawl_gives(crawled, tmp_path):
    source = tmp_path / "site"
    shutil.copytree(crawled / "_posts", source / "_posts")
    (source / "_posts" / "2026-09-01-notice.md").write_text("---\nlayout: post\ntitle: 公告\n---\n站点公告", "utf-8")
    blank = sorted((source / "_posts").glob("*NW*.md"))[0]
    blank.write_text("\n" + blank.read_text("utf-8"), "utf-8")       # Jekyll would drop this one
    out = tmp_path / "imported"
    result = run_cli("import", source, "--output", out)
    assert result.returncode == 0, result.stderr
    assert _files(out) == _files(crawled)
    assert "posts read 26, new 25" in result.stdout and "no infoCode 1" in result.stdout
    assert "notice.md: not imported: no infoCode" in result.stderr and f"{blank.name}: recovered" in result.stderr
    rows = sqlite3.connect(out / "archive.sqlite3").execute("SELECT DISTINCT body_source FROM posts").fetchall()
    assert rows == [("import",)]
    again = run_cli("import", source, "--output", out)
    assert "new 0, updated 0, revisions 0, unchanged 25" in again.stdout
    found = run_cli("search", "央行", "--output", out, "--json", "--limit", "100")
    assert found.returncode == 0 and found.stdout.strip()                 # searchable


def _git(repo: Path, *args, date: str = "") -> None:
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else {}
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost", *args], check=True,
                   capture_output=True, env={**__import__("os").environ, **env})


@pytest.mark.skipif(not GIT, reason="git is not installed: the history import was not run")
def test_two_versions_in_the_same_second_import_once(crawled, tmp_path):
    """git keeps whole seconds: an edit committed in the second of the post's first commit is still the
    newer text, and a second import of that history writes nothing (it flipped the file each time)."""
    repo = tmp_path / "finews"
    (repo / "_posts").mkdir(parents=True)
    _git(repo, "init", "-q")
    post = sorted((crawled / "_posts").glob("*.md"))[0]
    shutil.copy(post, repo / "_posts")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "post", date="2026-09-02T10:00:00+08:00")
    target = repo / "_posts" / post.name
    target.write_text(target.read_text("utf-8").replace("</p>", "（更正）</p>", 1), "utf-8")
    _git(repo, "commit", "-q", "-am", "edit", date="2026-09-02T10:00:00+08:00")
    out = tmp_path / "archive"
    assert run_cli("import", repo, "--output", out).returncode == 0
    written = (out / "_posts" / post.name).read_bytes()
    assert written == target.read_bytes()
    for _ in range(2):
        again = run_cli("import", repo, "--output", out)
        assert again.returncode == 0 and "new 0, updated 0, revisions 0, unchanged 2" in again.stdout, again.stdout
    assert (out / "_posts" / post.name).read_bytes() == written
    assert sqlite3.connect(out / "archive.sqlite3").execute("SELECT COUNT(*) FROM revisions").fetchone() == (1,)


@pytest.mark.skipif(not GIT, reason="git is not installed: the history import was not run")
def test_a_git_history_gives_the_newest_texts_and_the_older_as_revisions(crawled, tmp_path):
    repo = tmp_path / "finews"
    (repo / "_posts").mkdir(parents=True)
    _git(repo, "init", "-q")
    for f in (crawled / "_posts").glob("*.md"):
        shutil.copy(f, repo / "_posts")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "posts", date="2026-09-02T10:00:00+08:00")
    edited = sorted((repo / "_posts").glob("*.md"))[:3]
    for i, f in enumerate(edited):
        f.write_text(f.read_text("utf-8").replace("</p>", f"（更正{i}）</p>", 1), "utf-8")
        _git(repo, "commit", "-q", "-am", f"edit {i}", date=f"2026-09-0{3 + i}T10:00:00+08:00")
    moved = sorted((repo / "_posts").glob("*.md"))[10]
    (repo / "old_post").mkdir()
    shutil.move(moved, repo / "old_post" / moved.name)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "retire", date="2026-09-08T10:00:00+08:00")
    out = tmp_path / "archive"
    files_before = list((repo / "_posts").glob("*.md")) + list((repo / "old_post").glob("*.md"))
    result = run_cli("import", repo, "--output", out)
    assert result.returncode == 0, result.stderr
    # every post added once, three edited, the retired one's move a version with the same text
    assert (f"posts read {len(files_before) + 4}, new {len(files_before)}, updated 3, revisions 0, unchanged 1, "
            "failed 0") in result.stdout, result.stdout
    files = _files(out)
    for f in edited:                                                   # the newest texts
        assert files[f"_posts/{f.name}"] == f.read_bytes()
    assert f"old_post/{moved.name}" in files and f"_posts/{moved.name}" not in files
    db = sqlite3.connect(out / "archive.sqlite3")
    revisions = db.execute("SELECT info_code, text FROM revisions").fetchall()
    assert len(revisions) == 3 and all("更正" not in text for _, text in revisions)
    seen = {code: (first, last) for code, first, last in db.execute("SELECT info_code, first_seen, last_seen FROM posts")}
    code = edited[2].name[11:-3]
    assert seen[code] == ("2026-09-02T10:00:00+08:00", "2026-09-05T10:00:00+08:00")
    again = run_cli("import", repo, "--output", out)
    assert again.returncode == 0 and "new 0, updated 0, revisions 0" in again.stdout    # idempotent


def test_newest_wins_against_crawled_texts(crawled, tmp_path):
    out = tmp_path / "archive"
    shutil.copytree(crawled, out)
    source = tmp_path / "posts"
    source.mkdir()
    older = sorted((crawled / "_posts").glob("*.md"))[0]
    (source / older.name).write_text(older.read_text("utf-8").replace("</p>", "（旧稿）</p>", 1), "utf-8")
    result = run_cli("import", source, "--output", out)
    assert result.returncode == 0 and "revisions 1" in result.stdout     # older than the crawl: a revision
    assert _files(out) == _files(crawled)
    texts = sqlite3.connect(out / "archive.sqlite3").execute("SELECT text FROM revisions").fetchall()
    assert any("旧稿" in t for (t,) in texts)


@pytest.mark.parametrize("path", ["no-such-path", "empty-folder", "file.txt"])
def test_a_path_that_is_none_of_those_is_a_usage_error(tmp_path, path):
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "file.txt").write_text("x")
    result = run_cli("import", tmp_path / path, "--output", tmp_path / "a")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_hostile_posts_are_failures_of_their_own_and_the_rest_is_imported(crawled, tmp_path):
    source = tmp_path / "_posts"
    source.mkdir()
    good = sorted((crawled / "_posts").glob("*.md"))
    for f in good[:3]:
        shutil.copy(f, source)
    text = good[3].read_text("utf-8")
    category = next(line for line in text.splitlines() if line.startswith("categories: "))
    (source / "2026-09-01-NW202609010000000001.md").write_text(text.replace(category, "categories: 5"), "utf-8")
    (source / "2026-09-01-NW202609010000000002.md").write_text(text.replace(category, "categories: {a: [1]}"),
                                                                "utf-8")
    (source / "2026-09-01-NW202609010000000003.md").write_text("---\ntitle: [unclosed\n---\nx\n", "utf-8")
    (source / "2026-09-01-NW202609010000000004.md").symlink_to("/dev/zero")
    result = run_cli("import", tmp_path, "--output", tmp_path / "a")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    # a front matter that is no YAML, a link to a device: one line each; a category YAML reads as a number
    # is its text, as Jekyll takes it (the same post as the next, so one of them is "unchanged"); one that
    # is a mapping is ignored (the page's own back-link names it)
    assert result.stdout.count("\n") == 1 and "posts read 7, new 4," in result.stdout, result.stdout
    assert "failed 2" in result.stdout and result.stderr.count("not imported") == 2, result.stderr
    assert "not YAML" in result.stderr and "not a regular file" in result.stderr
    assert {p.name for p in (tmp_path / "a" / "_posts").glob("*.md")} >= {f.name for f in good[:3]}


def _commit_object(repo: Path, edit) -> None:
    """HEAD replaced by a commit whose raw text ``edit`` changed (a forged time, a forged signature)."""
    raw = subprocess.run(["git", "-C", str(repo), "cat-file", "commit", "HEAD"], check=True, capture_output=True,
                         text=True).stdout
    forged = subprocess.run(["git", "-C", str(repo), "hash-object", "-t", "commit", "-w", "--stdin"], input=edit(raw),
                            check=True, capture_output=True, text=True).stdout.strip()
    _git(repo, "update-ref", "HEAD", forged)


@pytest.mark.skipif(not GIT, reason="git is not installed: the history import was not run")
def test_a_hostile_git_repository_runs_nothing_and_puts_no_text_under_another_name(crawled, tmp_path):
    """A repository someone else made: its .git/config names a program git would run (log.showSignature
    with gpg.program and a signed commit), a file name with a line break (it put every later answer of
    ``cat-file --batch`` out of step: posts lost, texts under other posts' names), and a commit time past
    any calendar (it stopped the whole import)."""
    posts = sorted((crawled / "_posts").glob("*.md"))[:3]
    repo = tmp_path / "finews"
    (repo / "_posts").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "_posts" / "0evil\nzzz.md").write_text(posts[0].read_text("utf-8"), "utf-8")
    for p in posts:
        shutil.copy(p, repo / "_posts")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "posts")
    _commit_object(repo, lambda raw: re.sub(r"^(committer .*) \d+ ([+-]\d{4})$", r"\1 99999999999999 \2", raw, flags=re.M))
    _commit_object(repo, lambda raw: raw.replace("\n\n", "\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n iQ==\n"
                                                       " -----END PGP SIGNATURE-----\n\n", 1))
    marker = tmp_path / "RAN"
    program = tmp_path / "gpg.sh"
    program.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    program.chmod(0o755)
    _git(repo, "config", "log.showSignature", "true")
    _git(repo, "config", "gpg.program", str(program))
    out = tmp_path / "archive"
    result = run_cli("import", repo, "--output", out)
    assert not marker.exists(), "the repository's gpg.program ran"
    assert result.returncode == 1 and "a line break in its file name" in result.stdout + result.stderr, result.stdout
    assert "new 3" in result.stdout and "failed 1" in result.stdout
    for p in posts:
        assert (out / "_posts" / p.name).read_bytes() == p.read_bytes()


def test_a_tree_import_follows_no_link(crawled, tmp_path):
    """A post file that is a link (to a file outside the tree) is named, not read; a post folder that is
    a link (``old_post -> /``) is not walked."""
    posts = sorted((crawled / "_posts").glob("*.md"))[:2]
    source = tmp_path / "finews"
    (source / "_posts").mkdir(parents=True)
    shutil.copy(posts[0], source / "_posts")
    outside = tmp_path / "outside.md"
    shutil.copy(posts[1], outside)
    (source / "_posts" / posts[1].name).symlink_to(outside)
    (source / "old_post").symlink_to("/")
    out = tmp_path / "archive"
    result = run_cli("import", source, "--output", out, timeout=60)
    assert result.returncode == 1 and "a link" in result.stdout + result.stderr, result.stdout + result.stderr
    assert [p.name for p in (out / "_posts").glob("*.md")] == [posts[0].name]


@pytest.mark.skipif(not GIT, reason="git is not installed: the history import was not run")
def test_a_file_name_that_is_no_utf8_is_one_failure_not_the_import(crawled, tmp_path):
    """git keeps names as bytes: one that is no UTF-8 stopped the whole import (exit 70), every time."""
    import os

    post = sorted((crawled / "_posts").glob("*.md"))[0]
    repo = tmp_path / "finews"
    (repo / "_posts").mkdir(parents=True)
    _git(repo, "init", "-q")
    shutil.copy(post, repo / "_posts")
    (repo / "_posts" / os.fsdecode(b"bad\xff.md")).write_text("x", "utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "posts")
    result = run_cli("import", repo, "--output", tmp_path / "archive")
    assert result.returncode == 1 and "new 1" in result.stdout and "failed 1" in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
