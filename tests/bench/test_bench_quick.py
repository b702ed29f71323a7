"""The benchmark suite's CI smoke: ``bench/run.py --quick`` runs every benchmark on tiny sizes.

It must exit 0 and write its Markdown and JSON results where it is told to, never over the committed
bench/RESULTS.md. The numbers of a quick run mean nothing and are not asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHES = ("parse", "orchestration", "scale", "drift", "scaleout", "predict", "day", "profile", "shadow",
           "footprint", "backfill", "bigday")


def test_quick_run_writes_results_to_the_given_place(tmp_path: Path) -> None:
    committed = ROOT / "bench" / "RESULTS.md"
    before = committed.read_bytes() if committed.exists() else None
    results = tmp_path / "RESULTS.md"
    workdir = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--workdir", str(workdir), "--results",
         str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    text = results.read_text()
    assert text.startswith("# Benchmark results")
    assert "QUICK smoke run" in text
    assert "cores" in text and "Load average" in text
    assert "**failed**" not in text, text
    data = json.loads((workdir / "results.json").read_text())
    assert set(data["results"]) == set(BENCHES)
    assert all("error" not in res for res in data["results"].values()), data["results"]
    # The smoke really scored rows and ran the monitoring step, and never touched the committed results.
    assert data["results"]["scale"]["scoring"]["rows"] > 0
    assert data["results"]["drift"]["rows"] > 0
    # the big day ran every stage in lifecycle order, each with its own peak memory
    big = data["results"]["bigday"]
    assert [s["stage"] for s in big["stages"]] == ["acquisition", "validation", "features", "scoring", "monitoring"]
    assert all(s["peak_rss"] > 0 for s in big["stages"])
    # the footprint sampler measured this process (RSS and CPU time of a live tree), without starting a platform
    smoke = data["results"]["footprint"]["smoke"]
    assert smoke["rss_median"] > 0 and smoke["processes"] >= 1 and smoke["samples"] >= 2
    assert (committed.read_bytes() if committed.exists() else None) == before
