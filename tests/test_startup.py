"""What a crawl imports as it starts (each check in a fresh interpreter: a subprocess, so the e2e tier)."""
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

SETTINGS = ("import os, sys\n"
            "os.environ['SCRAPY_SETTINGS_MODULE'] = 'newsarchive.settings'\n"
            "from scrapy.utils.project import get_project_settings\n")


def _fresh(code: str) -> str:
    """The output of ``code`` run in a fresh interpreter with newsarchive's settings at hand."""
    out = subprocess.run([sys.executable, "-c", SETTINGS + code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_no_remote_control_server_nor_its_imports():
    """Scrapy 2.19 starts a code-running HTTP server by default; newsarchive's crawler has none, and its
    set-up imports none of what it leaves out (tldextract; aiohttp, which RemoteControl imported at
    set-up, is imported by the HTTP client only as Scrapy builds the downloader)."""
    stdout = _fresh(
        "from scrapy.crawler import CrawlerProcess\n"
        "p = CrawlerProcess(get_project_settings())\n"
        "c = p.create_crawler('mirror')\n"
        "c._apply_settings()\n"
        "names = [type(e).__name__ for e in c.extensions.middlewares]\n"
        "dl = c.settings.getwithbase('DOWNLOADER_MIDDLEWARES')\n"
        "print(names, 'RemoteControl' in names, c.settings.getbool('REMOTE_CONTROL_ENABLED'),\n"
        "      any('cookies' in str(k) for k in dl), 'aiohttp' in sys.modules, 'tldextract' in sys.modules)\n")
    names, *flags = stdout.rsplit(maxsplit=5)
    assert "CoreStats" in names and "WarcCapture" in names
    assert flags == ["False", "False", "False", "False", "False"], stdout


def test_a_crawl_that_is_not_distributed_imports_no_redis():
    """Every component the project's settings name is loaded as Scrapy loads it, and redis (~50 ms
    of every run's start-up) is not imported: only a distributed crawl needs it."""
    stdout = _fresh(
        "from scrapy.utils.misc import load_object\n"
        "import newsarchive.settings as s\n"
        "for name in ('EXTENSIONS', 'SPIDER_MIDDLEWARES', 'DOWNLOADER_MIDDLEWARES', 'ITEM_PIPELINES', 'ADDONS'):\n"
        "    for path in getattr(s, name, {}):\n"
        "        load_object(path)\n"
        "import newsarchive.commands.crawl, newsarchive.spiders.mirror\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))\n")
    assert stdout.strip() == "[]", stdout


def test_twisteds_http_client_is_not_imported_and_its_tunnel_error_is_still_retried():
    """Scrapy's RETRY_EXCEPTIONS names http11.TunnelError, which imported Twisted's HTTP client at every
    crawl's start (~50 ms) while aiohttp downloads; it is matched by name instead, and still retried."""
    stdout = _fresh(
        "from scrapy.downloadermiddlewares.retry import RetryMiddleware\n"
        "mw = RetryMiddleware(get_project_settings())\n"
        "before = 'scrapy.core.downloader.handlers.http11' in sys.modules\n"
        "from scrapy.core.downloader.handlers.http11 import TunnelError\n"
        "class Sub(TunnelError): pass\n"
        "retried = [isinstance(e, mw.exceptions_to_retry) for e in (TunnelError('x'), Sub('y'), KeyError('z'))]\n"
        "print(before, retried)\n")
    assert stdout.strip() == "False [True, True, False]", stdout
