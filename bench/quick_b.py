"""B alone, in variants, on the bench's 10k mirror (nginx), one run each — for quick comparisons of
settings or of two checkouts on the same machine minutes apart (run it from each checkout's root):

    python bench/quick_b.py '[["B", []], ["B-noindex", ["-s", "NEWSARCHIVE_SEARCH_INDEX=0"]]]'

(`python bench/run.py` makes the mirror first.) Prints requests/s, requests and CPU seconds.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import run as R

fixture = R.WORK / "mirror-10000"
server = R.Server(fixture)
tmp = Path(R.tempfile.mkdtemp(prefix="bench-quick-"))
try:
    for label, extra in json.loads(sys.argv[1]):
        r = R.run_b(server, tmp / "out", tmp, extra)
        print(label, round(r["requests"] / r["wall"]), "req/s", r["requests"], "req", "cpu", round(r["cpu"], 1), flush=True)
finally:
    server.stop()
    R.shutil.rmtree(tmp, ignore_errors=True)
