"""Distributed figures: posts/s of a crawl with 1 and with 2 Redis workers against the same
loopback mirror (nginx), on this machine. Needs redis-server.

    python bench/redis_bench.py [--posts 3000]
"""
import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import WORK, Server, free_port, generate, proxy_env, settings_args  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=3000)
    args = ap.parse_args()
    fixture = generate(WORK / f"mirror-redis-{args.posts}", args.posts, 20, seed=5)
    port = free_port()
    rdir = tempfile.mkdtemp()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", rdir], stdout=subprocess.DEVNULL)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    url = f"redis://127.0.0.1:{port}/0"
    server = Server(fixture)
    results = {}
    try:
        for workers in (1, 2):
            subprocess.run(["redis-cli", "-p", str(port), "flushall"], stdout=subprocess.DEVNULL)
            out = Path(tempfile.mkdtemp()) / "archive"
            started = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-m", "newsarchive", "crawl", "--site", server.url,
                                       "--output", str(out), "--redis", url, "-s", "NEWSARCHIVE_REDIS_IDLE=1",
                                       *settings_args({"NEWSARCHIVE_PROGRESS": "off"})],
                                      env=proxy_env(server), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(workers)]
            for p in procs:
                p.wait()
            wall = time.perf_counter() - started
            n = len(list((out / "_posts").glob("*.md")))
            results[workers] = {"posts": n, "wall": wall, "posts_per_s": n / wall}
            print(f"{workers} worker(s): {n} posts in {wall:.1f} s = {n / wall:.0f} posts/s", flush=True)
            shutil.rmtree(out.parent, ignore_errors=True)
    finally:
        server.stop()
        redis.terminate()
        redis.wait()
        shutil.rmtree(rdir, ignore_errors=True)
    (HERE / "REDIS.json").write_text(json.dumps({"server": server.name, "posts": args.posts, **{str(k): v for k, v in results.items()}}, indent=2))


if __name__ == "__main__":
    main()
