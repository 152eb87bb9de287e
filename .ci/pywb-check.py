"""CI check: pywb (a real replay client, in its own venv) replays every post page and share JSON of a
crawl from the archive's WARC files, raw (``id_``) and byte for byte what the server sent — after a
crawl, and again after a ``--refresh`` of the unchanged mirror (revisit records resolved).

    python .ci/pywb-check.py ARCHIVE PYWB_VENV MIRROR_URL PROXY_URL
"""
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

archive, venv, mirror, proxy = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve(), sys.argv[3], sys.argv[4]
work = Path(tempfile.mkdtemp(prefix="pywb-"))
bin_ = venv / "bin"
subprocess.run([bin_ / "wb-manager", "init", "c"], cwd=work, check=True, capture_output=True)
subprocess.run([bin_ / "wb-manager", "add", "c", *map(str, sorted((archive / "warc").glob("*.warc.gz")))],
               cwd=work, check=True, capture_output=True)
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen([bin_ / "wayback", "-b", "127.0.0.1", "-p", str(port)], cwd=work,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    # every capture of a post page or share answer, with its timestamp, from our own CDXJ index
    captures = []
    for line in (archive / "warc" / "index.cdxj").read_text("utf-8").splitlines():
        key, stamp, data = line.split(" ", 2)
        fields = json.loads(data)
        url = fields["url"]
        if "/NewsData/GetNewsText.do" in url or "/20" in url.split("//", 1)[-1]:
            captures.append((stamp, url, fields.get("mime") == "warc/revisit"))
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    via_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    bad = []
    for stamp, url, _revisit in captures:
        replay = direct.open(f"http://127.0.0.1:{port}/c/{stamp}id_/{url}", timeout=30).read()
        live_url = url if "zning.xyz" in url else mirror.rstrip("/") + "/" + url.split("/", 3)[3]
        live = (via_proxy if "zning.xyz" in url else direct).open(live_url, timeout=30).read()
        if replay != live:
            bad.append(url)
    revisits = sum(1 for *_, r in captures if r)
    print(f"pywb check: {len(captures) - len(bad)}/{len(captures)} captures replayed byte for byte "
          f"({revisits} of them revisit records)" + (f"; differ: {bad[:3]}" if bad else ""))
    sys.exit(1 if bad or not captures or not revisits else 0)
finally:
    server.terminate()
    server.wait(timeout=10)
    shutil.rmtree(work, ignore_errors=True)
