"""Distributed crawling on Redis with scrapy-redis: many workers, one frontier, each post once.

With ``--redis URL`` the scheduler queue and the request dupefilter are scrapy-redis's, in Redis,
so workers started with the same command on any machines share one crawl frontier. On top of it:

* **in-flight registry** — a request a worker takes from the queue is recorded in
  ``<prefix>:pending`` until its callback's output has been handled (items written); each worker
  keeps a heartbeat key alive. Requests of a worker whose heartbeat expired (killed, machine gone)
  go back to the queue: nothing is lost, and a restarted worker simply joins the same crawl.
* **infoCode dedupe** — ``<prefix>:seen`` (this run's claims: infoCode → worker) and
  ``<prefix>:archived`` (every post ever archived) live in Redis, so each infoCode is archived once
  whichever worker finds it, known posts are skipped before download by every worker, and the claim
  of a worker that died before writing passes to the next worker that meets the article.
* **idle exit** — a worker closes once the frontier (queue and every worker's in-flight requests)
  has been empty for ``NEWSARCHIVE_REDIS_IDLE`` seconds; ``--follow`` keeps it waiting. The last
  worker out clears the run's queue, dupefilter and sets, so the next crawl starts afresh.
* **getting posts to one archive** — workers sharing a folder write it directly, each post under
  the archive lock (``flock``), the catalog being SQLite with a busy timeout. Workers that do not
  share a disk run with ``--redis-items``: they push finished posts to ``<prefix>:items`` and one
  ``newsarchive collect`` process writes them.
"""
