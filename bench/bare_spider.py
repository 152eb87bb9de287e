"""Spider A of the benchmark: bare Scrapy, no pipelines, parsing nothing but links.

It requests exactly the URLs newsarchive's crawl requests — home page, feed, every category
listing, every post page, every post's share JSON — found with regular expressions.

    scrapy runspider bench/bare_spider.py -a site=http://127.0.0.1:PORT/
"""
import re
from urllib.parse import urljoin

import scrapy

HREF = re.compile(rb'href="([^"]+)"')
POST = re.compile(r"/[0-9]{4}/[0-9]{2}/[0-9]{2}/[^/]+\.html$")
SHARE = re.compile(rb'href="(https?://[^"/]+)/html_News/NewsShare\.html\?infoCode=([A-Z]{2}[0-9]{18})"')
CANONICAL = ("//finews.withounder.com", "https://finews.withounder.com", "http://finews.withounder.com")


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, site, share="1", **kwargs):
        super().__init__(**kwargs)
        self.site = site.rstrip("/") + "/"
        self.share = share not in ("0", "false", "no")

    async def start(self):
        yield scrapy.Request(self.site, callback=self.parse_page)
        yield scrapy.Request(self.site + "feed.xml", callback=self.parse_page)

    def local(self, href: str) -> str:
        for prefix in CANONICAL:
            if href.startswith(prefix):
                return self.site.rstrip("/") + href[len(prefix):]
        return urljoin(self.site, href)

    def parse_page(self, response):
        for raw in HREF.findall(response.body):
            href = raw.decode("utf-8")
            url = self.local(href)
            if not url.startswith(self.site):
                continue
            path = url[len(self.site) - 1:]
            if POST.search(path):
                yield scrapy.Request(url, callback=self.parse_post)
                category = path.split("/")[1]
                yield scrapy.Request(self.site + f"category/{category}.html", callback=self.parse_page)
            elif path.startswith("/category/"):
                yield scrapy.Request(url, callback=self.parse_page)

    def parse_post(self, response):
        m = SHARE.search(response.body) if self.share else None
        if m:
            host, code = m.group(1).decode(), m.group(2).decode()
            yield scrapy.Request(f"{host}/NewsData/GetNewsText.do?id={code}", callback=self.parse_share)

    def parse_share(self, response):
        pass
