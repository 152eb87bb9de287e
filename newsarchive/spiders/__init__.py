"""The spiders: ``mirror`` crawls a mirror site; ``fetch`` archives the URLs it is given."""
