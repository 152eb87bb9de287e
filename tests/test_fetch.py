"""``newsarchive fetch`` through a loopback share host: the golden seed, errors, --stdout."""
import json

import pytest
import yaml

from newsarchive.demo.mockserver import MockServer
from newsarchive.store.catalog import Catalog

from helpers import SEED, SEED_CODE, SEED_SHARE, run_cli

pytestmark = pytest.mark.e2e


def test_fetch_reproduces_the_seed_byte_for_byte(seed_server, tmp_path):
    out = tmp_path / "archive"
    result = run_cli("fetch", SEED_SHARE, "--output", out, server=seed_server)
    assert result.returncode == 0, result.stderr
    written = out / "_posts" / SEED.name
    assert written.read_bytes() == SEED.read_bytes()
    assert result.stdout.startswith("written ") and SEED_SHARE in result.stdout
    row = Catalog(out, readonly=True).get(SEED_CODE)
    assert row["path"] == SEED.name and row["category"] == "nanfangribao" and row["revisions"] == 0
    assert row["share_url"] == SEED_SHARE


def test_second_fetch_says_unchanged_and_writes_nothing(seed_server, tmp_path):
    out = tmp_path / "archive"
    assert run_cli("fetch", SEED_SHARE, "--output", out, server=seed_server).returncode == 0
    before = (out / "_posts" / SEED.name).stat().st_mtime_ns
    again = run_cli("fetch", SEED_SHARE, "--output", out, server=seed_server)
    assert again.returncode == 0 and again.stdout.startswith("unchanged ")
    assert (out / "_posts" / SEED.name).stat().st_mtime_ns == before


def test_a_mirror_page_fetched_again_is_unchanged_not_a_failure(small_mirror, tmp_path):
    """A post or a category listing a person asks for again is read again (its share answer too, though
    the post is archived) and reported unchanged, exit 0 — not skipped as known, with no answer."""
    out = tmp_path / "archive"
    post = small_mirror.posts[0]
    listing, page = f"{small_mirror.url}category/{post.category}.html", small_mirror.url + post.path.lstrip("/")
    assert run_cli("fetch", listing, "--output", out, server=small_mirror).returncode == 0
    files = {p: p.stat().st_mtime_ns for p in (out / "_posts").glob("*.md")}
    for url in (page, listing):
        again = run_cli("fetch", url, "--output", out, server=small_mirror)
        assert again.returncode == 0 and "unchanged" in again.stdout and "failed" not in again.stdout, again.stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "_posts").glob("*.md")} == files


def test_changed_content_replaces_the_file_and_counts_a_revision(seed_fixture, tmp_path):
    out = tmp_path / "archive"
    with MockServer(seed_fixture) as server:
        assert run_cli("fetch", SEED_SHARE, "--output", out, server=server).returncode == 0
        record_file = seed_fixture / "upstream" / f"{SEED_CODE}.json"
        record = json.loads(record_file.read_text("utf-8"))
        record["title"] = "科技创新服务助推宝安科创产业大步快跑（更新）"
        record_file.write_text(json.dumps(record, ensure_ascii=False), "utf-8")
        result = run_cli("fetch", SEED_SHARE, "--output", out, server=server)
    assert result.returncode == 0 and result.stdout.startswith("updated ")
    meta = yaml.safe_load((out / "_posts" / SEED.name).read_text("utf-8").split("---\n")[1])
    assert meta["title"].endswith("（更新）")
    catalog = Catalog(out, readonly=True)
    assert catalog.get(SEED_CODE)["revisions"] == 1
    old = catalog.db.execute("SELECT text FROM revisions").fetchone()[0]
    assert old == SEED.read_text("utf-8")   # nothing archived is lost


def test_stdout_prints_the_post_and_touches_nothing(seed_server, tmp_path):
    out = tmp_path / "archive"
    result = run_cli("fetch", SEED_SHARE, "--stdout", "--output", out, server=seed_server)
    assert result.returncode == 0
    assert result.stdout == SEED.read_text("utf-8")
    assert not out.exists()


def test_errors_are_one_line_exit_1_nothing_written(seed_server, tmp_path):
    out = tmp_path / "archive"
    missing = SEED_SHARE.replace("833", "834")
    bad = "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=../../etc/passwd"
    result = run_cli("fetch", missing, bad, "ftp://x/y", "--output", out, server=seed_server)
    assert result.returncode == 1
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("failed ")]
    assert len(lines) == 3
    assert any(missing in line and "no such article" in line for line in lines)
    assert any("../../etc/passwd" in line and "infoCode" in line for line in lines)
    assert not list((out / "_posts").glob("*.md")) if (out / "_posts").exists() else True


def test_mixed_success_exits_1_but_keeps_the_good_post(seed_server, tmp_path):
    out = tmp_path / "archive"
    result = run_cli("fetch", SEED_SHARE, SEED_SHARE.replace("833", "834"), "--output", out, server=seed_server)
    assert result.returncode == 1
    assert (out / "_posts" / SEED.name).read_bytes() == SEED.read_bytes()


def test_non_json_and_http_errors(tmp_path):
    fixture = tmp_path / "fx"
    (fixture / "site").mkdir(parents=True)
    (fixture / "upstream").mkdir()
    code = "NW202112242225123899"
    (fixture / "upstream" / f"{code}.json").write_text("<html>maintenance</html>", "utf-8")
    with MockServer(fixture) as server:
        share = f"http://127.0.0.1:{server.port}/html_News/NewsShare.html?infoCode={code}"
        result = run_cli("fetch", share, "--output", tmp_path / "a", server=server)
        assert result.returncode == 1 and "not JSON" in result.stdout
        gone = f"http://127.0.0.1:{server.port}/emnews/2021/12/08/202112082206768417.html"
        result = run_cli("fetch", gone, "--output", tmp_path / "a", server=server)
        assert result.returncode == 1 and "HTTP 404" in result.stdout


def test_timeout_is_a_clear_failure(seed_fixture, tmp_path):
    with MockServer(seed_fixture, delay=3) as server:
        result = run_cli("fetch", SEED_SHARE, "--output", tmp_path / "a", "-s", "DOWNLOAD_TIMEOUT=1",
                         "-s", "NEWSARCHIVE_SHARE_TIMEOUT=1", "-s", "RETRY_TIMES=0", "-s", "ROBOTSTXT_OBEY=0",
                         server=server)
    assert result.returncode == 1
    assert "failed" in result.stdout and "timeout" in result.stdout


def test_a_connection_lost_mid_answer_is_said_in_words(tmp_path):
    """A server that closes the connection mid-answer: "connection lost mid-answer", not the repr of
    Scrapy's DownloadFailedError around a list of Twisted Failures."""
    import socket
    import threading

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n<html>")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/nanfangribao/2021/12/24/NW202112242225123833.html"
    try:
        result = run_cli("fetch", url, "--output", tmp_path / "out", "-s", "RETRY_TIMES=0", "-s", "ROBOTSTXT_OBEY=0")
    finally:
        sock.close()
    assert result.returncode == 1
    assert "connection lost mid-answer" in result.stdout + result.stderr, result.stdout + result.stderr
    assert "Failure" not in result.stdout + result.stderr
