"""newsarchive's own signals (sent with ``crawler.signals.send_catch_log``)."""

# an article could not be fetched: kwargs url, info_code, reason, permanent, origin
article_failed = object()
