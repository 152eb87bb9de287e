"""``request.meta`` keys the spiders set and the components read (the one place they are spelt)."""

KEY = "newsarchive_key"            # the infoCode a post link stands for (known before download)
PAGE = "newsarchive_page"          # the post page's path on the mirror
EXPLICIT = "newsarchive_explicit"  # asked for by a person: always fetched
ROLE = "newsarchive_role"          # home, feed, listing, post, share, share_direct (for WARC capture)
CARRIES_ARTICLE = ("share", "share_direct")   # roles whose request carries a post's article to its callback
POST_URL = "newsarchive_post"      # the post page a share request was made for
LISTING_PAGE = "newsarchive_listing_page"  # a listing's place in its chain of next pages (1 = first)
VETTED = "newsarchive_vetted"      # the spider asked KnownPostsMiddleware before making the request
ORIGIN = "origin"                  # the URL a person gave, that led to this request
