"""The benchmark: newsarchive against a bare Scrapy spider on the same loopback mirror.

    python bench/run.py [--posts 10000] [--categories 50] [--pairs 3] [--jobs 2] [--quick]

Generates (once, cached under bench/work/) a synthetic mirror in the real mirror's HTML (10,000
posts of 6–20 KB, some with EastMoney widgets, 50 categories, share JSON for each), serves it with
nginx from Debian's packages when present (else newsarchive's own mock server — the report says
which), then runs A (bare Scrapy, bench/bare_spider.py, outside the project: Scrapy's defaults), A⁺ (the
same spider inside the project: newsarchive's engine-level settings) and B (``newsarchive crawl``)
in turn, A A⁺ B ×3, and reports medians and ranges; then B again on the unchanged mirror (incremental),
an export, a 100,000-post catalog scale run, per-post micro-costs of the pure functions and, with
``--jobs``, B sharded over processes. Writes bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
sys.path.insert(0, str(ROOT))

# the same Scrapy concurrency settings for A and B (newsarchive's loopback profile). CONCURRENT_ITEMS is
# one of them: Scrapy's default of 100 starts 100 tasks per response, items or not (~40% of a bare
# spider's CPU on Scrapy 2.19)
COMMON = {"CONCURRENT_REQUESTS": "32", "CONCURRENT_REQUESTS_PER_DOMAIN": "32", "CONCURRENT_ITEMS": "1",
          "AUTOTHROTTLE_ENABLED": "0",
          "DOWNLOAD_DELAY": "0", "ROBOTSTXT_OBEY": "1", "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": "0",
          "COOKIES_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def generate(folder: Path, posts: int, categories: int, seed: int) -> Path:
    from newsarchive.demo.mirrorgen import WIDGET_HTML, build_site, synthetic_posts

    marker = folder / "done.json"
    want = {"posts": posts, "categories": categories, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == want:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    items = synthetic_posts(posts, seed=seed, media=[f"媒体{i}" for i in range(categories)],
                            paragraphs=(6, 16), sentences=(3, 6))
    for i, p in enumerate(items):
        if i % 10 == 3:
            p.extra_html = WIDGET_HTML
    build_site(items, folder)
    marker.write_text(json.dumps(want))
    return folder


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ text/html html; application/atom+xml xml; application/json json; }}
    default_type application/octet-stream;
    charset utf-8;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp; fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {fixture}/site;
        location = /NewsData/GetNewsText.do {{
            if ($arg_id !~ "^[A-Z]{{2}}[0-9]{{18}}$") {{ return 404; }}
            default_type application/json;
            alias {fixture}/upstream/$arg_id.json;
        }}
        location / {{ try_files $uri $uri/index.html =404; }}
    }}
}}
"""


class Server:
    """nginx (Debian's) serving the pre-rendered files, or the mock server when nginx is absent."""

    def __init__(self, fixture: Path):
        self.fixture = fixture
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        self.work = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        if nginx:
            (self.work / "tmp").mkdir()
            conf = self.work / "nginx.conf"
            conf.write_text(NGINX_CONF.format(work=self.work, port=self.port, fixture=fixture))
            self.proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(self.work)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
            self.name = version.replace("nginx version: ", "")
        else:
            self.proc = subprocess.Popen([sys.executable, "-m", "newsarchive.demo.mockserver", str(fixture), "--port",
                                          str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.name = "newsarchive.demo.mockserver (Python; nginx not installed)"
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.work, ignore_errors=True)


def measure(cmd: list[str], env: dict, stats_file: Path | None = None, cwd: Path = ROOT) -> dict:
    """Wall time, CPU (user+sys) and peak RSS of a child process, and its Scrapy stats."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errors:   # (a pipe unread would fill)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=errors, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        errors.seek(0)
        err = errors.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, None):
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    stats = json.loads(stats_file.read_text()) if stats_file and stats_file.exists() else {}
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024, "stats": stats}


def median_run(runs: list[dict]) -> dict:
    """The run with the median wall time (of an odd number of runs)."""
    return sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]


def proxy_env(server: Server) -> dict:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    env.update(http_proxy=server.url, no_proxy="127.0.0.1,localhost")
    return env


def settings_args(extra: dict | None = None) -> list[str]:
    out = []
    for k, v in {**COMMON, **(extra or {})}.items():
        out += ["-s", f"{k}={v}"]
    return out


def run_a(server: Server, tmp: Path, tuned: bool = False, share: bool = True) -> dict:
    """A: the bare spider with Scrapy's defaults (run outside the project, so no scrapy.cfg is
    found) — or, ``tuned``, inside the project, where it gets newsarchive's engine-level settings
    (proxy and meta-refresh middlewares, fingerprinter, stats class…) but none of its work."""
    stats = tmp / "a-stats.json"
    stats.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "scrapy", "runspider", str(HERE / "bare_spider.py"), "-a", f"site={server.url}",
           "-a", f"share={int(share)}", *settings_args({"EXTENSIONS": json.dumps({"newsarchive.crawl.extensions.StatsFile": 500}),
                           "NEWSARCHIVE_STATS_FILE": str(stats), "NEWSARCHIVE_OUTPUT": str(tmp / "a-output")})]
    env = {k: v for k, v in proxy_env(server).items() if k != "SCRAPY_SETTINGS_MODULE"}
    r = measure(cmd, env, stats, cwd=ROOT if tuned else tmp)
    r["requests"] = r["stats"].get("downloader/request_count", 0)
    r["posts"] = r["stats"].get("response_received_count", 0) and _count_posts_a(r["stats"])
    return r


def _count_posts_a(stats: dict) -> int:
    return stats.get("bench/posts", 0) or stats.get("downloader/response_status_count/200", 0)


def run_b(server: Server, out: Path, tmp: Path, extra: list[str] | None = None, fresh: bool = True) -> dict:
    stats = tmp / "b-stats.json"
    stats.unlink(missing_ok=True)
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "newsarchive", "crawl", "--site", server.url, "--output", str(out),
           "--stats-file", str(stats), *settings_args({"NEWSARCHIVE_PROGRESS": "off"}), *(extra or [])]
    r = measure(cmd, proxy_env(server), stats)
    s = r["stats"]
    r["requests"] = s.get("downloader/request_count", 0)
    r["posts"] = s.get("newsarchive/posts/written", 0) + s.get("newsarchive/posts/updated", 0) + \
        s.get("newsarchive/posts/unchanged", 0)
    return r


def summarize(runs: list[dict], posts: int) -> dict:
    def stat(f):
        values = [f(r) for r in runs]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return {
        "req_per_s": stat(lambda r: r["requests"] / r["wall"]),
        "posts_per_s": stat(lambda r: posts / r["wall"]),
        "cpu_ms_per_post": stat(lambda r: r["cpu"] * 1000 / posts),
        "rss_mb": stat(lambda r: r["rss_mb"]),
        "wall_s": stat(lambda r: r["wall"]),
        "requests": stat(lambda r: r["requests"]),
    }


def micro_costs() -> dict:
    from newsarchive.core.dates import parse_date
    from newsarchive.core.htmlclean import normalize_body
    from newsarchive.core.post import Post, render_front_matter, render_post
    from newsarchive.core.slug import category_slug
    from newsarchive.demo.mirrorgen import WIDGET_HTML, synthetic_posts

    src = synthetic_posts(1, seed=99, paragraphs=(12, 12), sentences=(5, 5))[0]
    fragment = src.share_json()["text"] + WIDGET_HTML
    body = normalize_body(fragment)
    post = Post(info_code=src.info_code, title=src.title, date=parse_date("2021-12-24 11:18:57"),
                category="nanfangribao", tags=["南方日报新闻"], body=body, link_url=src.share_url)

    def per_call(fn, n):
        return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6

    def slug_cold():
        category_slug.cache_clear()
        category_slug("21世纪经济报道 21财经APP")

    write_folder = Path(tempfile.mkdtemp(prefix="bench-write-"))

    def write_one(folder=write_folder):
        from newsarchive.store.files import atomic_write
        atomic_write(folder / "x.md", render_post(post).encode(), fsync=False)

    return {
        "fragment_bytes": len(fragment.encode()),
        "normalize_body_us": per_call(lambda: normalize_body(fragment), 200),
        "render_front_matter_us": per_call(lambda: render_front_matter(post), 2000),
        "render_post_us": per_call(lambda: render_post(post), 2000),
        "category_slug_cold_us": per_call(slug_cold, 2000),
        "category_slug_cached_us": per_call(lambda: category_slug("21世纪经济报道 21财经APP"), 20000),
        "atomic_write_no_fsync_us": per_call(write_one, 200),
    }


def fmt(d: dict, key: str, unit: str = "", digits: int = 1) -> str:
    v = d[key]
    return f"{v['median']:.{digits}f}{unit} ({v['min']:.{digits}f}–{v['max']:.{digits}f})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=10000)
    ap.add_argument("--categories", type=int, default=50)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2, help="also run B with --jobs N (0: skip)")
    ap.add_argument("--scale", type=int, default=100000, help="catalog size of the scale run (0: skip)")
    ap.add_argument("--short", type=int, default=2000,
                    help="posts of the short no-share crawl a scheduled run makes (0: skip)")
    ap.add_argument("--quick", action="store_true", help="1,000 posts, 1 pair: a smoke run")
    ap.add_argument("--only-short", action="store_true", help="run only the short no-share comparison")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.posts, args.pairs, args.scale = 1000, 1, 10000
    WORK.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    if args.only_short:
        print(json.dumps(short_run(args.short, args.pairs, tmp), indent=2))
        return
    fixture = generate(WORK / f"mirror-{args.posts}", args.posts, args.categories, seed=1)
    server = Server(fixture)
    report = {"server": server.name, "posts": args.posts, "categories": args.categories}
    try:
        a_runs, t_runs, b_runs, n_runs = [], [], [], []
        out = tmp / "archive"
        for i in range(args.pairs):
            # the last round's archives go before this round's A runs, so that deleting 20,000 files is not
            # the file system's work while B is measured (it was: B's own start removed them)
            for old in (out, tmp / "noindex"):
                shutil.rmtree(old, ignore_errors=True)
            os.sync()
            a_runs.append(run_a(server, tmp))
            t_runs.append(run_a(server, tmp, tuned=True))
            b_runs.append(run_b(server, out, tmp))
            n_runs.append(run_b(server, tmp / "noindex", tmp, ["-s", "NEWSARCHIVE_SEARCH_INDEX=0"]))
            print(f"round {i + 1}: A {a_runs[-1]['requests'] / a_runs[-1]['wall']:.0f} req/s, "
                  f"A+ {t_runs[-1]['requests'] / t_runs[-1]['wall']:.0f} req/s, "
                  f"B {b_runs[-1]['requests'] / b_runs[-1]['wall']:.0f} req/s", flush=True)
        assert all(b["posts"] == args.posts for b in b_runs), [b["posts"] for b in b_runs]
        report["same_requests"] = len({r["requests"] for r in a_runs + t_runs + b_runs}) == 1
        if not report["same_requests"]:
            print("warning: A and B made different numbers of requests (retries?)", flush=True)
        report["A"], report["B"] = summarize(a_runs, args.posts), summarize(b_runs, args.posts)
        report["A_tuned"] = summarize(t_runs, args.posts)
        report["B_noindex"] = summarize(n_runs, args.posts)
        report["index_cost_pairs"] = [b["wall"] / n["wall"] for b, n in zip(b_runs, n_runs)]
        report["index_ratio"] = report["B_noindex"]["req_per_s"]["median"] / report["A"]["req_per_s"]["median"]
        report["ratio"] = report["B"]["req_per_s"]["median"] / report["A"]["req_per_s"]["median"]
        report["ratio_tuned"] = report["B"]["req_per_s"]["median"] / report["A_tuned"]["req_per_s"]["median"]
        report["ratio_pairs"] = [b["requests"] / b["wall"] / (a["requests"] / a["wall"]) for a, b in zip(a_runs, b_runs)]
        report["ratio_tuned_pairs"] = [b["requests"] / b["wall"] / (t["requests"] / t["wall"])
                                       for t, b in zip(t_runs, b_runs)]
        incs = [run_b(server, out, tmp, fresh=False) for _ in range(3)]     # start-up bound: noisy, take 3
        inc = median_run(incs)
        s = inc["stats"]
        report["incremental"] = {"wall": inc["wall"], "requests": inc["requests"],
                                 "wall_min": min(r["wall"] for r in incs),
                                 "wall_max": max(r["wall"] for r in incs),
                                 "post_requests": s.get("newsarchive/pages/posts", 0),
                                 "share_requests": s.get("newsarchive/share/used", 0) + s.get("newsarchive/share/failed", 0),
                                 "written": s.get("newsarchive/posts/written", 0),
                                 "of_full": inc["wall"] / report["B"]["wall_s"]["median"]}
        walls = ", ".join(f"{r['wall']:.2f}" for r in incs)
        print(f"incremental: {inc['requests']} requests, {walls} s", flush=True)
        export = [sys.executable, "-m", "newsarchive", "export", "--output", str(out), "--format", "jsonl",
                  "--to", str(tmp / "export.jsonl")]
        # 3 runs (median); and the same command selecting no post, for its start-up (imports, catalog)
        exp = median_run([measure(export, dict(os.environ)) for _ in range(3)])
        empty = median_run([measure([*export, "--since", "2999-01-01"], dict(os.environ)) for _ in range(3)])
        report["export"] = {"posts_per_s": args.posts / exp["wall"], "wall": exp["wall"], "rss_mb": exp["rss_mb"],
                            "startup": empty["wall"],
                            "posts_per_s_after_startup": args.posts / max(exp["wall"] - empty["wall"], 1e-9)}
        print(f"export: {exp['wall']:.2f} s, start-up {empty['wall']:.2f} s", flush=True)
        if args.jobs:
            jobs = []
            for _ in range(max(1, args.pairs)):
                jobs.append(run_b(server, tmp / "jobs", tmp, ["--jobs", str(args.jobs)]))
            assert all(j["posts"] == args.posts for j in jobs), [j["posts"] for j in jobs]
            report["jobs"] = {"n": args.jobs, **summarize(jobs, args.posts)}
            report["jobs_ratio"] = report["jobs"]["req_per_s"]["median"] / report["A"]["req_per_s"]["median"]
            report["jobs_ratio_tuned"] = report["jobs"]["req_per_s"]["median"] / report["A_tuned"]["req_per_s"]["median"]
            print(f"--jobs {args.jobs}: {report['jobs']['req_per_s']['median']:.0f} req/s", flush=True)
    finally:
        server.stop()
    if args.short:
        report["short"] = short_run(args.short, args.pairs, tmp)
    if args.scale:
        report["scale"] = scale_run(args.scale, tmp)
    report["micro"] = micro_costs()
    write_results(report, args)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {args.results}")


def short_run(posts: int, pairs: int, tmp: Path) -> dict:
    """The shorter crawl a scheduled run makes: a ``posts``-post mirror, share URLs off, A and B
    alternating, each timed as a whole process (start-up included)."""
    fixture = generate(WORK / f"mirror-short-{posts}", posts, 20, seed=5)
    server = Server(fixture)
    a_runs, b_runs = [], []
    try:
        for _ in range(pairs):
            a_runs.append(run_a(server, tmp, share=False))
            b_runs.append(run_b(server, tmp / "short", tmp, ["--no-share"]))
    finally:
        server.stop()
    a, b = median_run(a_runs), median_run(b_runs)
    assert all(r["posts"] == posts for r in b_runs), [r["posts"] for r in b_runs]
    out = {"posts": posts, "A_wall": a["wall"], "B_wall": b["wall"], "ratio": a["wall"] / b["wall"],
           "ratio_pairs": [x["wall"] / y["wall"] for x, y in zip(a_runs, b_runs)],
           "A_cpu_ms_per_post": a["cpu"] / posts * 1000, "B_cpu_ms_per_post": b["cpu"] / posts * 1000}
    print(f"short no-share crawl of {posts}: A {a['wall']:.2f} s, B {b['wall']:.2f} s, B/A {out['ratio']:.2f}",
          flush=True)
    return out


def scale_run(size: int, tmp: Path) -> dict:
    """A catalog of ``size`` archived posts (generated directly), then an incremental crawl of a
    1,000-post mirror on top: peak RSS and time."""
    sys.path.insert(0, str(HERE))
    from genarchive import generate as gen_archive

    base = WORK / f"catalog-{size}"
    if not (base / "archive.sqlite3").exists():
        gen_archive(base, size)
    archive = tmp / "scale"
    shutil.copytree(base, archive)
    fixture = generate(WORK / "mirror-scale-1000", 1000, 10, seed=77)
    server = Server(fixture)
    try:
        first = run_b(server, archive, tmp, fresh=False)
        second = run_b(server, archive, tmp, fresh=False)
    finally:
        server.stop()
    return {"catalog": size, "new_posts": first["stats"].get("newsarchive/posts/written", 0),
            "wall": first["wall"], "rss_mb": first["rss_mb"], "incremental_wall": second["wall"],
            "incremental_rss_mb": second["rss_mb"],
            "incremental_skipped": second["stats"].get("newsarchive/posts/skipped_known", 0)}


def write_results(r: dict, args) -> None:
    import scrapy
    import twisted

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"
    a, b = r["A"], r["B"]
    lines = [
        "# Benchmark results", "",
        f"Measured {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %z} by `python bench/run.py"
        + (" --quick" if args.quick else "") + "`.", "",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, Scrapy {scrapy.__version__}, Twisted {twisted.__version__}",
        f"- server: {r['server']}, pre-rendered files (share JSON as files too), 127.0.0.1",
        f"- mirror: {r['posts']:,} posts, {r['categories']} categories, 6–20 KB post pages, every 10th with EastMoney widgets",
        f"- same Scrapy settings for A and B: {', '.join(f'{k}={v}' for k, v in COMMON.items())}",
        f"- runs alternate A A⁺ B ×{args.pairs}; figures are medians (min–max)",
        "- A runs outside the project (Scrapy's defaults + the settings above); A⁺ is the same spider run inside "
        "the project, so it also gets newsarchive's engine-level settings (proxy and meta-refresh middlewares, "
        "request fingerprinter, stats class, no generator-return check) but does none of its work", "",
        "## Full crawl (empty archive, share URLs on)", "",
        "| | requests/s | posts/s | CPU ms/post | peak RSS MB | wall s | requests |",
        "|---|---|---|---|---|---|---|",
        f"| A: bare Scrapy spider | {fmt(a, 'req_per_s')} | {fmt(a, 'posts_per_s')} | {fmt(a, 'cpu_ms_per_post', digits=2)} "
        f"| {fmt(a, 'rss_mb')} | {fmt(a, 'wall_s')} | {a['requests']['median']:.0f} |",
        f"| A⁺: the same spider with newsarchive's engine settings | {fmt(r['A_tuned'], 'req_per_s')} | "
        f"{fmt(r['A_tuned'], 'posts_per_s')} | {fmt(r['A_tuned'], 'cpu_ms_per_post', digits=2)} "
        f"| {fmt(r['A_tuned'], 'rss_mb')} | {fmt(r['A_tuned'], 'wall_s')} | {r['A_tuned']['requests']['median']:.0f} |",
        f"| B: newsarchive crawl | {fmt(b, 'req_per_s')} | {fmt(b, 'posts_per_s')} | {fmt(b, 'cpu_ms_per_post', digits=2)} "
        f"| {fmt(b, 'rss_mb')} | {fmt(b, 'wall_s')} | {b['requests']['median']:.0f} |",
    ]
    if "B_noindex" in r:
        n = r["B_noindex"]
        lines.append(f"| B with the search index off | {fmt(n, 'req_per_s')} | {fmt(n, 'posts_per_s')} | "
                     f"{fmt(n, 'cpu_ms_per_post', digits=2)} | {fmt(n, 'rss_mb')} | {fmt(n, 'wall_s')} | "
                     f"{n['requests']['median']:.0f} |")
    if "jobs" in r:
        j = r["jobs"]
        lines.append(f"| B with `--jobs {j['n']}` | {fmt(j, 'req_per_s')} | {fmt(j, 'posts_per_s')} | "
                     f"{fmt(j, 'cpu_ms_per_post', digits=2)} | {fmt(j, 'rss_mb')} (parent) | {fmt(j, 'wall_s')} | "
                     f"{j['requests']['median']:.0f} |")
    pairs = lambda key: ", ".join(f"{x:.2f}" for x in r[key])
    lines += ["", f"**B/A requests/s: {r['ratio']:.2f}** (per round {pairs('ratio_pairs')})"
              + (f"; `--jobs {r['jobs']['n']}`/A: **{r['jobs_ratio']:.2f}**" if "jobs" in r else ""),
              "", f"B/A⁺: {r['ratio_tuned']:.2f} (per round {pairs('ratio_tuned_pairs')})"
              + (f"; `--jobs {r['jobs']['n']}`/A⁺: {r['jobs_ratio_tuned']:.2f}" if "jobs" in r else ""), ""]
    if "B_noindex" in r:
        lines += [f"Search index: B/A {r['ratio']:.2f} with it, {r['index_ratio']:.2f} without; B's wall time with it "
                  f"/ without, per round: {pairs('index_cost_pairs')}", ""]
    inc = r["incremental"]
    lines += ["## Incremental re-crawl of the unchanged mirror", "",
              f"- requests: {inc['requests']} (post pages {inc['post_requests']}, share JSON {inc['share_requests']}), "
              f"files written {inc['written']}",
              f"- time (median of 3 runs): {inc['wall']:.2f} s ({inc['wall_min']:.2f}–{inc['wall_max']:.2f}) = "
              f"{inc['of_full']:.1%} of B's full crawl (process start-up included)", "",
              "## Export", "",
              f"- `newsarchive export --format jsonl` of the {r['posts']:,}-post archive: "
              f"{r['export']['posts_per_s']:,.0f} posts/s with start-up (median of 3: wall {r['export']['wall']:.2f} s), "
              f"{r['export'].get('posts_per_s_after_startup', 0):,.0f} posts/s after it (the same command "
              f"selecting no post: {r['export'].get('startup', 0):.2f} s); peak RSS {r['export']['rss_mb']:.0f} MB", ""]
    if "short" in r:
        sh = r["short"]
        lines += ["## Short crawl, share off (whole process, start-up included)", "",
                  f"- {sh['posts']:,}-post mirror, `--no-share`: A {sh['A_wall']:.2f} s, B {sh['B_wall']:.2f} s, "
                  f"**B/A {sh['ratio']:.2f}** (per round {', '.join(f'{x:.2f}' for x in sh['ratio_pairs'])})",
                  f"- CPU per post, all processes: A {sh['A_cpu_ms_per_post']:.2f} ms, B {sh['B_cpu_ms_per_post']:.2f} ms "
                  f"({sh['B_cpu_ms_per_post'] / sh['A_cpu_ms_per_post']:.2f}×)", ""]
    if "scale" in r:
        s = r["scale"]
        lines += ["## Scale run", "",
                  f"- catalog of {s['catalog']:,} archived posts (generated directly), then a crawl of a 1,000-post "
                  f"mirror on top: {s['new_posts']} new posts in {s['wall']:.2f} s, peak RSS {s['rss_mb']:.0f} MB",
                  f"- and again, unchanged: {s['incremental_skipped']} known posts skipped before download in "
                  f"{s['incremental_wall']:.2f} s, peak RSS {s['incremental_rss_mb']:.0f} MB", ""]
    m = r["micro"]
    lines += ["## Per-post micro-costs of the pure functions (one core, best of 5)", "",
              f"- normalize_body of a {m['fragment_bytes']:,}-byte fragment with widgets: {m['normalize_body_us']:.0f} µs",
              f"- render_front_matter: {m['render_front_matter_us']:.1f} µs; render_post: {m['render_post_us']:.1f} µs",
              f"- category_slug: {m['category_slug_cold_us']:.1f} µs cold, {m['category_slug_cached_us']:.2f} µs cached",
              f"- atomic write of a post (no fsync): {m['atomic_write_no_fsync_us']:.0f} µs",
              f"- normalise + render + write: {m['normalize_body_us'] + m['render_post_us'] + m['atomic_write_no_fsync_us']:.0f} µs"
              " per post (target ≤ 1,000 µs)", ""]
    args.results.write_text("\n".join(lines))
    (args.results.with_suffix(".json")).write_text(json.dumps(r, indent=2, default=str))


if __name__ == "__main__":
    main()
