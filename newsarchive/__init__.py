"""newsarchive: a Scrapy-based archiver for mirrored Chinese news feeds."""

__version__ = "0.1.0"
HOME_PAGE = "https://github.com/newsarchive/newsarchive"
