"""Scrapy settings of newsarchive. Our own settings are prefixed ``NEWSARCHIVE_``.

Polite defaults for the real mirror (a small Jekyll site on one host): at most 4 requests in
flight per domain, AutoThrottle aiming at 2 concurrent requests with a 0.25 s floor, robots.txt
obeyed, a User-Agent that names us. On loopback the CLI lifts the brakes (see ``cli.LOOPBACK``).
Everything is overridable with ``-s NAME=VALUE``.
"""
from scrapy.settings import default_settings as _scrapy

from newsarchive import HOME_PAGE, __version__

BOT_NAME = "newsarchive"
SPIDER_MODULES = ["newsarchive.spiders"]
NEWSPIDER_MODULE = "newsarchive.spiders"

USER_AGENT = f"newsarchive/{__version__} (+{HOME_PAGE})"
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 16
# our pipelines are synchronous: processing a response's items concurrently buys nothing, and
# Scrapy starts CONCURRENT_ITEMS tasks per response (100 by default: ~20% of the crawl's CPU)
CONCURRENT_ITEMS = 1
CONCURRENT_REQUESTS_PER_DOMAIN = 4
# Scrapy re-reads a generator callback's source (inspect + ast.parse) on every response to warn about
# `return value` in generators: its cache is keyed weakly on bound methods, which die at once, so it
# never hits (~5% of a crawl's CPU). Our callbacks are tested; the check is off.
WARN_ON_GENERATOR_RETURN_VALUE = False
STATS_CLASS = "newsarchive.crawl.extensions.StatsCollector"
# the request fingerprint without canonicalize_url for the plain URLs the spiders build (same value)
REQUEST_FINGERPRINTER_CLASS = "newsarchive.crawl.middlewares.Fingerprinter"
DOWNLOAD_DELAY = 0.25
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0

# transient failures are retried a few times; 404 and oversize are permanent (not retried)
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# Scrapy's list, its http11.TunnelError matched by name (crawl/download.py): naming the class imported
# Twisted's HTTP client at every crawl's start, which the aiohttp client does not use
RETRY_EXCEPTIONS = [e if e != "scrapy.core.downloader.handlers.http11.TunnelError" else
                    "newsarchive.crawl.download.TunnelError" for e in _scrapy.RETRY_EXCEPTIONS]
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
REDIRECT_MAX_TIMES = 5

TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
COOKIES_ENABLED = False
LOG_LEVEL = "INFO"
# a page cut short is retried from its callback with Scrapy's get_retry_request, which carries the
# retry count and proxy keys on purpose: Scrapy 2.19's meta-copy detector would warn of every crawl
META_COPY_WARN_SKIP_KEYS = ["retry_times", "download_latency", "_scheme_proxy", "_auth_proxy", "redirect_urls",
                            "redirect_times", "redirect_ttl", "redirect_reasons"]
LOG_DATEFORMAT = "%Y-%m-%d %H:%M:%S%z"        # times in logs carry their zone
FEED_EXPORT_ENCODING = "utf-8"

# Components newsarchive switches off are left out of Scrapy's base lists: Scrapy imports every
# key of EXTENSIONS & co. (to normalise it), ``None`` or not, and these cost every run's start-up
# ~0.2 s — a third of an incremental crawl's Python start-up. Scrapy 2.19's RemoteControl starts,
# by default, an HTTP server on localhost that runs any Python code sent with the token it writes
# to the user's profile folder: an archiver of untrusted pages has no use for it (and it imports
# aiohttp). The cookies middleware imports tldextract; the telnet console, Twisted Conch. To have
# one back, name it in EXTENSIONS / DOWNLOADER_MIDDLEWARES and switch on its *_ENABLED setting.
_left_out = {"scrapy.extensions.remote_control.RemoteControl", "scrapy.extensions.telnet.TelnetConsole",
             "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"}
EXTENSIONS_BASE = {k: v for k, v in _scrapy.EXTENSIONS_BASE.items() if k not in _left_out}
DOWNLOADER_MIDDLEWARES_BASE = {k: v for k, v in _scrapy.DOWNLOADER_MIDDLEWARES_BASE.items() if k not in _left_out}

DOWNLOADER_MIDDLEWARES = {
    "newsarchive.crawl.offsite.HostGuard": 50,         # the mirror and the share hosts only
    "newsarchive.crawl.capture.RawResponses": 595,     # responses as received, before decompression
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
    "newsarchive.crawl.middlewares.ProxyMiddleware": 750,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "newsarchive.crawl.middlewares.MetaRefreshMiddleware": 580,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "newsarchive.crawl.middlewares.RedirectMiddleware": 600,
}
SPIDER_MIDDLEWARES = {
    "newsarchive.crawl.known.KnownPostsMiddleware": 550,
    "newsarchive.distributed.components.PendingDone": 10,      # only with NEWSARCHIVE_REDIS_URL
}
ITEM_PIPELINES = {
    "newsarchive.crawl.pipelines.ArchivePipeline": 300,
}
EXTENSIONS = {
    "newsarchive.distributed.components.RedisState": 100,     # only with NEWSARCHIVE_REDIS_URL
    "newsarchive.crawl.sinks.ArchiveSink": 110,
    "newsarchive.crawl.extensions.Progress": 500,
    "newsarchive.crawl.extensions.StatsFile": 950,                # after the monitors: their verdicts are in it
    "newsarchive.crawl.extensions.ShareHostReport": 515,
    "newsarchive.crawl.capture.WarcCapture": 520,
    "newsarchive.distributed.components.IdleClose": 530,       # only with NEWSARCHIVE_REDIS_URL
    "newsarchive.crawl.monitoring.Monitoring": 900,            # Spidermon monitors at the end of a crawl
}
# Redis mode is an add-on: with NEWSARCHIVE_REDIS_URL set (by the CLI, `scrapy crawl -s` or a
# Scrapyd job), it puts the scheduler and dupefilter on Redis; without it, it is off
ADDONS = {
    "newsarchive.distributed.addon.RedisAddon": 100,
    # HTTP(S) through Scrapy's aiohttp handler (crawl/download.py: ~15% less CPU a request than its
    # Twisted one); NEWSARCHIVE_HTTP_CLIENT=twisted keeps Scrapy's default
    "newsarchive.crawl.download.HttpClientAddon": 200,
}

# -- newsarchive's own settings -------------------------------------------------------------------
NEWSARCHIVE_OUTPUT = "output"                 # the archive folder
NEWSARCHIVE_SITE = "https://finews.withounder.com/"
NEWSARCHIVE_SITE_BASE = "//finews.withounder.com"   # written in back-links
NEWSARCHIVE_CANONICAL_HOSTS = ["finews.withounder.com", "finews.zning.me"]
NEWSARCHIVE_SHARE = True                      # follow share URLs to the share host's JSON
# bounds a hostile or broken mirror cannot push past (the real mirror has no pagination, and a
# listing of a few hundred posts)
NEWSARCHIVE_MAX_LISTING_PAGES = 200           # pages of one chain of next-page links
NEWSARCHIVE_MAX_LINKS_PER_PAGE = 20000        # post and listing links taken from one page
CLOSESPIDER_PAGECOUNT = 1_000_000             # the crawl-wide budget of responses (Scrapy's CloseSpider)
NEWSARCHIVE_SHARE_HOSTS = ["finews.zning.xyz"]   # hosts share links may lead to (host or host:port)
NEWSARCHIVE_SHARE_TIMEOUT = 20                # the share host is often gone: give up sooner
NEWSARCHIVE_SHARE_RETRY_TIMES = 1
NEWSARCHIVE_REFRESH = False                   # re-download posts already archived
NEWSARCHIVE_STDOUT = False                    # print posts instead of writing them
NEWSARCHIVE_CLI_REPORT = False                # set by the newsarchive command, which reports outcomes itself
NEWSARCHIVE_STATS_FILE = ""                   # write the final stats as JSON here
NEWSARCHIVE_PROGRESS = "auto"                 # live progress line: auto (on a TTY), on, off
NEWSARCHIVE_PROGRESS_INTERVAL = 1.0
NEWSARCHIVE_WARC = True                       # raw capture of every response that fed a post
NEWSARCHIVE_WARC_MAX_BYTES = 100 * 1024 * 1024  # roll WARC files at this size
NEWSARCHIVE_RETRY_PERMANENT_AFTER = 24 * 3600  # a 404/oversize post page is tried again after a day
NEWSARCHIVE_SEARCH_INDEX = True               # keep the search index in step as posts are written
NEWSARCHIVE_HTTP_CLIENT = "aiohttp"           # or twisted (Scrapy's default download handler)
NEWSARCHIVE_FSYNC = True                      # fsync each post before its rename (power-loss safety)
NEWSARCHIVE_REDIS_URL = ""                    # redis://HOST:PORT/DB: distributed crawl (scrapy-redis)
NEWSARCHIVE_REDIS_ITEMS = False               # push posts to Redis for `newsarchive collect`
NEWSARCHIVE_REDIS_FOLLOW = False              # keep waiting for new work
NEWSARCHIVE_REDIS_IDLE = 5.0                  # seconds of empty frontier before a worker exits
NEWSARCHIVE_REDIS_HEARTBEAT = 2.0             # a worker silent for 5 heartbeats is presumed dead
NEWSARCHIVE_WRITER_PROCESS = True             # normalise + write posts and WARC in a second process
NEWSARCHIVE_SINK = "auto"                     # process, local, redis, stdout; auto: from the settings above
NEWSARCHIVE_SINKS: dict[str, str] = {}        # more sinks, name -> class path (see crawl/sinks.py)
# monitoring (Spidermon; crawl/monitoring.py): the monitors, their thresholds and where they report
NEWSARCHIVE_MONITOR = True
NEWSARCHIVE_MIRROR_RETENTION = "3d"           # how long the mirror keeps a post: the alarm sounds at half
# the share host is often down (the mirror's body is kept then): the rate is reported, and fails the
# monitor only above this (1.0: never; set 0.5, say, to be told when the originals stop coming)
NEWSARCHIVE_MONITOR_SHARE_FAILURE_RATE = 1.0
NEWSARCHIVE_MONITOR_MAX_EXTRACTION_FAILURES = 5  # post pages that hold no article (or 10% of them)
NEWSARCHIVE_MONITOR_WEBHOOK = ""              # a URL that gets the report (JSON POST) when a monitor fails
NEWSARCHIVE_MONITOR_REPORT = ""               # the JSON report (default: <archive>/monitor-report.json)
SPIDERMON_MAX_ERRORS = 20
SPIDERMON_EXPECTED_FINISH_REASONS = ["finished", "shutdown"]
NEWSARCHIVE_SHARD = ""                        # "i/N": this process crawls categories with crc32 % N == i
