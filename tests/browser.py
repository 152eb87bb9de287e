"""Headless Chromium (Debian's, driven by Playwright) as the reader of what the archive emits: a page is
loaded, every element hovered (mouse and focus events), every link clicked; any script that runs is
caught by the marker its payload sets (``PWN``) or by a dialog it opens."""
from __future__ import annotations

import shutil
from pathlib import Path

PWN = "document.documentElement.setAttribute('data-pwned','1')"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
HOVER = """() => { for (const e of document.querySelectorAll('*')) for (const t of
  ['mouseover', 'mouseenter', 'mousemove', 'mousedown', 'mouseup', 'focus', 'focusin', 'pointerover'])
  e.dispatchEvent(new MouseEvent(t, {bubbles: true})); }"""
STATIC = """() => { const bad = [];
  for (const e of document.querySelectorAll('*')) {
    for (const a of e.getAttributeNames()) if (a.toLowerCase().startsWith('on')) bad.push(e.tagName + '@' + a);
    for (const a of ['href', 'src', 'action', 'formaction', 'data', 'srcdoc'])
      if (e.hasAttribute(a) && /^\\s*(javascript|vbscript|data):/i.test(e.getAttribute(a))) bad.push(e.tagName + ' ' + a);
    if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED'].includes(e.tagName)) bad.push(e.tagName);
  } return bad; }"""


def available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return CHROMIUM is not None


class Reader:
    """``with Reader() as r: r.check(page)`` → what ran (empty: nothing)."""

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        self.context = self.browser.new_context()
        self.context.route("http*://**", lambda route: route.abort())      # nothing leaves the machine
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        return self

    def __exit__(self, *exc):
        self.browser.close()
        self._pw.stop()

    def _pwned(self) -> bool:
        try:
            marked = self.page.evaluate("() => document.documentElement.hasAttribute('data-pwned')")
        except Exception:  # noqa: BLE001 - a navigation in flight: look again
            self.page.wait_for_timeout(100)
            marked = self.page.evaluate("() => document.documentElement.hasAttribute('data-pwned')")
        return bool(marked or self.dialogs)

    def _load(self, url: str) -> None:
        self.dialogs.clear()
        self.page.goto(url, wait_until="load")
        self.page.wait_for_timeout(50)

    def check(self, page: Path | str) -> list[str]:
        """What ran on ``page``: ``load``, ``hover``, ``click <href>``, ``static <what>``."""
        url = page.as_uri() if isinstance(page, Path) else page
        found: list[str] = []
        self._load(url)
        if self._pwned():
            found.append("load")
        found += [f"static {b}" for b in self.page.evaluate(STATIC)]
        self.page.evaluate(HOVER)
        self.page.wait_for_timeout(20)
        if self._pwned():
            found.append("hover")
        hrefs = self.page.evaluate("() => Array.from(document.links, a => a.getAttribute('href'))")
        for i, href in enumerate(hrefs):
            self._load(url)
            try:
                self.page.evaluate("i => document.links[i].click()", i)
                self.page.wait_for_timeout(30)
            except Exception:  # noqa: BLE001 - the click navigated away: look at where it went
                pass
            if self._pwned():
                found.append(f"click {href}")
        return found
