"""Import figures: a 37,000-post Jekyll tree (the real mirror's size) and a 10,000-commit history.

    python bench/importbench.py [--posts 37000] [--commits 10000]

The tree is generated (bench/genarchive.py: posts in the archive's format, which is the mirror's);
the history is a git repository of its own: each commit adds or edits one post. Each import is one
`newsarchive import` process, timed whole; peak RSS from wait4. Writes bench/IMPORT.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def run(cmd: list[str]) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    return {"wall_s": round(time.perf_counter() - started, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "exit": os.waitstatus_to_exitcode(status), "summary": out.strip().splitlines()[-1] if out.strip() else ""}


def history(repo: Path, source: Path, commits: int) -> None:
    """A repository whose commits add posts one by one, then edit them in turn (a fifth of the
    commits add a post, the rest edit one: each post has four later versions)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@localhost", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@localhost"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "_posts").mkdir()
    posts = sorted(source.glob("*.md"))[:max(1, commits // 5)]    # each post added, then edited 4 times
    fast = subprocess.Popen(["git", "-C", str(repo), "fast-import", "--quiet"], stdin=subprocess.PIPE, env=env)
    assert fast.stdin is not None
    for i in range(commits):
        post = posts[i % len(posts)]
        data = post.read_bytes() if i < len(posts) else post.read_bytes().replace(b"\n\n", f"\n\n第{i}版。\n\n".encode(), 1)
        when = 1_700_000_000 + i * 60
        msg = f"c {i}".encode()
        fast.stdin.write(b"commit refs/heads/main\n" + f"committer b <b@localhost> {when} +0800\n".encode()
                         + f"data {len(msg)}\n".encode() + msg + b"\n"
                         + f"M 100644 inline _posts/{post.name}\n".encode() + f"data {len(data)}\n".encode() + data + b"\n")
    fast.stdin.close()
    fast.wait()
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "main"], check=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=37000)
    ap.add_argument("--commits", type=int, default=10000)
    args = ap.parse_args(argv)
    from genarchive import generated

    tree = generated(HERE / "work" / f"tree-{args.posts}", args.posts)
    out = HERE / "work" / "import-out"
    shutil.rmtree(out, ignore_errors=True)
    na = [sys.executable, "-m", "newsarchive", "import"]
    report = {"posts": args.posts, "tree": run([*na, str(tree / "_posts"), "--output", str(out)])}
    report["tree_again"] = run([*na, str(tree / "_posts"), "--output", str(out)])
    repo = HERE / "work" / f"history-{args.commits}"
    if not (repo / ".git").is_dir():
        shutil.rmtree(repo, ignore_errors=True)
        history(repo, tree / "_posts", args.commits)
    out2 = HERE / "work" / "import-git-out"
    shutil.rmtree(out2, ignore_errors=True)
    report["commits"] = args.commits
    report["history"] = run([*na, str(repo), "--git", "--output", str(out2)])
    print(json.dumps(report, indent=2, ensure_ascii=False))
    (HERE / "IMPORT.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    main()
