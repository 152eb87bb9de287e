"""``newsarchive import``: backfill the archive from the mirror's Jekyll source — a site tree (its
``_posts/`` and ``old_post/``), a folder of posts, single post files — or from its git history, every
commit that added or changed a post being a version of it.

Each version is made into the page Jekyll would publish (``core.jekyllpost``) and read by the crawl's
own reader, then goes the one way into the archive (``Archivist.import_version``: prepare, the newest
text wins, older ones are kept as revisions, first/last seen are the versions' times). Posts Jekyll
rejects (front matter after a blank line) are read all the same; a post without an infoCode is
reported, never guessed. A second import of the same sources writes nothing.

git itself is read (``git log --name-status`` then one ``git cat-file --batch``): it is on every
machine that has the repository, streams tens of thousands of blobs in one process, and needs no
binding (pygit2 wheels lag new libgit2 releases; dulwich walks a large history in pure Python).
"""
from __future__ import annotations

import collections
import datetime as dt
import os
import stat
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from newsarchive.core.dates import BEIJING
from newsarchive.core.extract import ExtractError, SiteMap, read_post_page
from newsarchive.core.items import ArticleItem
from newsarchive.core.jekyllpost import NotAPost, page, page_path, split
from newsarchive.core.normalize import article_from_mirror

SITE = "https://finews.withounder.com/"
POST_DIRS = ("_posts", "old_post")


class ImportError_(ValueError):
    """A PATH that is neither a Jekyll site, a folder of posts, a post file nor a git repository."""


@dataclass
class Version:
    name: str                   # the post's file name
    text: str
    location: str               # _posts or old_post (where it lives in the source)
    when: dt.datetime | None    # its commit's time (git), or None
    source: str                 # for reports: a path, or commit:path
    error: str = ""             # why it could not be read


MAX_POST_BYTES = 16 << 20   # a post file larger than this is reported, not read
BATCH = 500     # posts made durable and committed together
AHEAD = 1024    # versions read ahead of the writing, at most


def _location(path: Path) -> str:
    return "old_post" if "old_post" in path.parts else "_posts"


def tree_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            if path.suffix not in (".md", ".markdown"):
                raise ImportError_(f"{path} is not a post file (.md)")
            yield path
        elif path.is_dir():
            # (a post folder that is a link is not followed: ``old_post -> /`` would walk the whole disk)
            dirs = [path / d for d in POST_DIRS if (path / d).is_dir() and not (path / d).is_symlink()]
            found = False
            for d in dirs or [path]:
                for f in sorted(d.rglob("*.md")):
                    found = True
                    yield f
            if not found:
                raise ImportError_(f"{path} holds no post: no _posts/ or old_post/, no .md file")
        else:
            raise ImportError_(f"{path} is neither a Jekyll site, a folder of posts, a post file nor a git repository")


def tree_versions(paths: Iterable[str | Path]) -> Iterator[Version]:
    for f in tree_files(paths):
        try:
            info = os.lstat(f)      # a link (to a file outside the tree) is not followed, and said
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{f} is not a regular file" + (" (a link)" if stat.S_ISLNK(info.st_mode) else ""))
            if info.st_size > MAX_POST_BYTES:
                raise OSError(f"{f} is larger than {MAX_POST_BYTES // (1 << 20)} MB")
            text = f.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            yield Version(f.name, "", _location(f), None, str(f), error=f"cannot be read: {exc.strerror or exc}")
            continue
        yield Version(f.name, text, _location(f), None, str(f))


# git run on a repository someone else may have made: its own configuration can name programs git runs
# (gpg.program with log.showSignature, core.fsmonitor, diff drivers…). Those are switched off here, and
# the user's and the system's configuration are not read either (the history is read the same anywhere).
_GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
            "GIT_PAGER": "cat", "GIT_EXTERNAL_DIFF": ""}
_GIT_SAFE = ("log.showSignature=false", "core.fsmonitor=false", "core.hooksPath=" + os.devnull, "diff.external=",
             "core.pager=cat", "gpg.program=false", "gpg.ssh.program=false", "gpg.x509.program=false",
             "core.alternateRefsCommand=", "safe.directory=*")


def _git(repo: Path) -> list[str]:
    return ["git", *(a for kv in _GIT_SAFE for a in ("-c", kv)), "-C", str(repo)]


def git_versions(repo: str | Path) -> Iterator[Version]:
    """Every version of every post in the history of ``repo``, oldest commit first."""
    repo = Path(repo)
    log = subprocess.run([*_git(repo), "-c", "core.quotePath=false", "log", "--reverse", "--no-renames",
                          "--no-show-signature", "--no-ext-diff", "--no-textconv", "-z", "--format=%x01%H %ct",
                          "--name-status", "--", *POST_DIRS], capture_output=True, env=_GIT_ENV)
    if log.returncode != 0:
        raise ImportError_(f"{repo} is no git repository git can read: "
                           f"{log.stderr.decode('utf-8', 'replace').strip()[:200]}")
    wanted: list[tuple[str, str, dt.datetime]] = []
    commit, when = "", dt.datetime.now(dt.timezone.utc)
    now = dt.datetime.now(dt.timezone.utc)
    fields = log.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    i = 0
    while i < len(fields):
        field = fields[i].lstrip("\n")
        if field.startswith("\x01"):
            commit, _, stamp = field[1:].partition(" ")      # (a commit with no usable time: an empty %ct)
            # a commit time in the future (a wrong clock, or a forged one) would win over every later version;
            # one past any calendar (forged) is no time either
            try:
                when = min(dt.datetime.fromtimestamp(int(stamp), dt.timezone.utc), now)
            except (ValueError, OverflowError, OSError):
                when = now
            i += 1
        elif field[:1] in ("A", "M", "D", "T") and i + 1 < len(fields):
            path = fields[i + 1]
            # (a name with a line break cannot be asked of ``cat-file --batch``, one name a line: asked,
            # it would put every later answer out of step — another post's text under a name)
            if field[:1] in "AMT" and path.endswith((".md", ".markdown")):
                if "\n" in path or "\r" in path:
                    yield Version(Path(path).name, "", _location(Path(path)), when, f"{commit[:10]}:{path!r}",
                                  error="cannot be read: a line break in its file name")
                else:
                    wanted.append((commit, path, when))
            i += 2
        else:
            i += 1
    if not wanted:
        return
    cat = subprocess.Popen([*_git(repo), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           env=_GIT_ENV)
    assert cat.stdin is not None and cat.stdout is not None
    try:
        for commit, path, when in wanted:
            cat.stdin.write(f"{commit}:{path}\n".encode("utf-8", "surrogateescape"))  # (names git keeps as bytes)
            cat.stdin.flush()
            header = cat.stdout.readline().split()
            if len(header) < 3:             # "<name> missing": nothing follows
                continue
            size = int(header[2])
            if header[1] != b"blob" or size > MAX_POST_BYTES:
                while size > 0:             # consumed all the same: the stream stays in step
                    size -= len(cat.stdout.read(min(size, 1 << 20)) or b"x" * size)
                cat.stdout.read(1)
                continue
            data = cat.stdout.read(size)
            cat.stdout.read(1)
            yield Version(Path(path).name, data.decode("utf-8", errors="replace"), _location(Path(path)), when,
                          f"{commit[:10]}:{path}")
    finally:
        cat.stdin.close()
        cat.stdout.close()      # (an answer left unread would keep git waiting to write it: never for ever)
        cat.wait()


def article(version: Version, sitemap: SiteMap) -> tuple[ArticleItem, dict, bool]:
    """``(item, front matter, jekyll_reads_it)`` of a version; NotAPost or ExtractError otherwise."""
    meta, body, jekyll_ok = split(version.text)
    url = SITE.rstrip("/") + page_path(meta, version.name)
    found = read_post_page(page(meta, body).encode("utf-8"), "text/html; charset=utf-8", url, sitemap)
    item = article_from_mirror(found, url, sitemap.local_path(url) or "")
    item.body_source = "import"
    return item, meta, jekyll_ok


_SITEMAP = SiteMap(SITE, ["finews.withounder.com", "finews.zning.me"])


def _read(version: Version) -> tuple[Version, ArticleItem | None, bool, str]:
    """``(version without its text, item, jekyll_reads_it, why not)`` — run in the reading process."""
    if version.error:
        return version, None, True, version.error
    try:
        item, _meta, jekyll_ok = article(version, _SITEMAP)
    except (NotAPost, ExtractError) as exc:
        return replace(version, text=""), None, True, str(exc)
    except Exception as exc:     # noqa: BLE001 (a hostile front matter: one version's failure, never the import's)
        return replace(version, text=""), None, True, f"cannot be read as a post: {type(exc).__name__}: {exc}"
    return replace(version, text=""), item, jekyll_ok, ""


def read_all(versions: Iterable[Version], jobs: int) -> Iterator[tuple[Version, ArticleItem | None, bool, str]]:
    """Every version read, in order; with ``jobs`` > 1 the reading (YAML, Markdown, the page reader)
    runs in a process of its own, beside the writing."""
    if jobs <= 1:
        yield from map(_read, versions)
        return
    import multiprocessing
    import threading

    window = threading.Semaphore(AHEAD)    # Pool.imap would read every version ahead at once
    done = threading.Event()

    def bounded() -> Iterator[Version]:
        for version in versions:
            while not window.acquire(timeout=0.2):
                if done.is_set():       # the import stopped: the feeder thread ends too
                    return
            if done.is_set():
                return
            yield version

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    pool = context.Pool(jobs - 1, initializer=_quiet_worker)
    try:
        for result in pool.imap(_read, bounded(), chunksize=64):
            window.release()
            yield result
    finally:
        done.set()
        pool.terminate()
        pool.join()


def _quiet_worker() -> None:
    """A reading process leaves SIGINT to its parent and dies on SIGTERM (the pool's terminate)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def is_git(path: str | Path) -> bool:
    return (Path(path) / ".git").exists()


def import_archive(folder: str | Path, paths: list[str], git: bool | None = None, since: str | None = None,
                   until: str | None = None, categories: list[str] | None = None, fsync: bool = True,
                   stop: Callable[[], bool] = lambda: False, progress: Callable[[collections.Counter], None] | None = None,
                   jobs: int | None = None) -> tuple[collections.Counter, list[str]]:
    """Import every version of ``paths`` into ``folder``; ``(counts, lines about posts not imported)``."""
    from newsarchive.store.ingest import Archivist

    sitemap = _SITEMAP
    jobs = min(2, os.cpu_count() or 1) if jobs is None else jobs
    counts: collections.Counter = collections.Counter()
    notes: list[str] = []
    archivist = Archivist(folder, warc=False, sitemap=sitemap, claim=lambda code: True)
    archivist.writer.batch(durable=fsync)   # durable every BATCH posts: one sync, not one fsync a post
    try:
        for path in paths:
            use_git = is_git(path) if git is None else git
            versions = git_versions(path) if use_git else tree_versions([path])
            for version, item, jekyll_ok, why in read_all(versions, jobs):
                if stop():
                    counts["stopped"] = 1
                    return counts, notes
                counts["read"] += 1
                if item is None:
                    counts["failed"] += 1
                    notes.append(f"{version.source}: not imported: {why}")
                    continue
                if not item.info_code:
                    counts["no_infocode"] += 1
                    notes.append(f"{version.source}: not imported: no infoCode in it (not guessed)")
                    continue
                outcome = archivist.import_version(item, version.when, version.location, since, until, categories)
                counts[outcome.status if not outcome.dropped else "failed"] += 1
                if outcome.dropped and outcome.reason != "filtered":
                    notes.append(f"{version.source}: not imported: {outcome.message}")
                elif outcome.dropped:
                    counts["failed"] -= 1
                    counts["filtered"] += 1
                elif not jekyll_ok and outcome.status != "unchanged":
                    notes.append(f"{version.source}: recovered (Jekyll skips it: its front matter follows a blank line)")
                if counts["read"] % BATCH == 0:
                    archivist.writer.checkpoint()
                    if progress is not None:
                        progress(counts)
    finally:
        archivist.close()
    return counts, notes


def beijing_day(when: dt.datetime) -> str:
    return when.astimezone(BEIJING).strftime("%Y-%m-%d")
