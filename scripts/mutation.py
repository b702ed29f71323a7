"""Mutation testing of the decision modules, one module at a time, results gathered into tests/MUTATION.md.

Each module in ``[tool.mutation.modules]`` (pyproject.toml) is mutated by mutmut against its own tests only,
in ``.mutation/<module>/`` (git-ignored): a small project of symlinks to ``include``, ``plugins`` and ``tests``
with a pyproject.toml holding the shared ``[tool.mutmut]`` settings narrowed to that module. mutmut copies it
into ``mutants/`` there, so every module keeps its own cache and a rerun only retests what changed.

    python scripts/mutation.py                       # every module, then tests/MUTATION.md
    python scripts/mutation.py --module retraining   # one module (its row is updated)
    python scripts/mutation.py --fresh               # forget cached verdicts first
    python scripts/mutation.py --show retraining     # the diff of every surviving mutant of a module

Score = (killed + timeout) / (total - equivalent); ``[tool.mutation.equivalent]`` names the equivalent
mutants with a reason. Exit status 1 when a module run scores below ``--min-score``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
REPORT = ROOT / "tests" / "MUTATION.md"
# Each module's last verdicts, kept beside the report (the .mutation/ caches are local and git-ignored): a run of one
# module, or a fresh clone, rewrites the report without losing the other modules' results.
RESULTS = ROOT / "tests" / "mutation"
LINKED = ("include", "plugins", "tests")
KILLED = {1, 3}
TIMEOUT = {36, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def load_config() -> dict[str, Any]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["tool"]


def slug(path: str) -> str:
    return Path(path).stem


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def module_pyproject(tool: dict[str, Any], module: str) -> str:
    """The shared [tool.mutmut] narrowed to ``module`` and its tests, plus the project's pytest settings."""
    mutmut = {**tool["mutmut"], "only_mutate": [module],
              "pytest_add_cli_args_test_selection": list(tool["mutation"]["modules"][module])}
    lines = ["[tool.mutmut]", *(f"{k} = {_toml_value(v)}" for k, v in mutmut.items()), "",
             "[tool.pytest.ini_options]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in tool.get("pytest", {}).get("ini_options", {}).items()]
    return "\n".join(lines) + "\n"


def prepare(tool: dict[str, Any], module: str, fresh: bool) -> Path:
    work = WORK / slug(module)
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = work / name
        if link.is_symlink() and not link.exists():
            link.unlink()  # a cache copied from another checkout points at a folder that is gone
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=True)
    (work / "pyproject.toml").write_text(module_pyproject(tool, module), encoding="utf-8")
    # mutmut skips copying files already in mutants/: refresh the copies of the tests and the unmutated code
    # so an edited test or helper is seen (the mutated module itself is regenerated from its mtime).
    for name in ("tests", "plugins"):
        shutil.rmtree(work / "mutants" / name, ignore_errors=True)
    mutated = work / "mutants"
    if mutated.exists():
        for src in (ROOT / "include").rglob("*"):
            dst = mutated / src.relative_to(ROOT)
            if src.is_file() and src.suffix != ".meta" and str(src.relative_to(ROOT)) != module:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    return work


def previous_survivors(work: Path, module: str) -> list[str]:
    """Mutants a previous run left alive: retested, since tests may have been added since."""
    meta = work / "mutants" / (module + ".meta")
    if not meta.exists():
        return []
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return sorted(name for name, code in codes.items() if code in SURVIVED | NO_TESTS)


def run_mutmut(work: Path, module: str, max_children: int, nice: int) -> tuple[int, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the copies in mutants/ must be imported
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # ``nice`` is the niceness mutmut runs at, not an increment: `nice -n 15 make mutation` stays at 15, not 19
    cmd = ["nice", "-n", str(max(0, nice - os.nice(0))), str(ROOT / ".venv" / "bin" / "mutmut"), "run",
           "--max-children", str(max_children)]
    survivors = previous_survivors(work, module)
    started = time.monotonic()
    with open(work / "mutmut.log", "w", encoding="utf-8") as log:
        rc = subprocess.call(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        if rc == 0 and survivors:  # mutmut keeps a verdict once given; ask again for the ones that survived
            rc = subprocess.call(cmd + survivors, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    return rc, time.monotonic() - started


def collect(work: Path, module: str, equivalent: dict[str, str]) -> dict[str, Any]:
    meta = json.loads((work / "mutants" / (module + ".meta")).read_text(encoding="utf-8"))
    codes: dict[str, int | None] = meta["exit_code_by_key"]
    counts = {"total": len(codes), "killed": 0, "timeout": 0, "survived": 0, "no_tests": 0, "equivalent": 0,
              "not_checked": 0, "other": 0}
    survivors, equivalents = [], []
    for name, code in sorted(codes.items()):
        if code is None:  # an interrupted run: not a verdict
            counts["not_checked"] += 1
        elif code in KILLED:
            counts["killed"] += 1
        elif code in TIMEOUT:
            counts["timeout"] += 1
        elif name in equivalent:
            counts["equivalent"] += 1
            equivalents.append({"mutant": name, "reason": equivalent[name]})
        elif code in SURVIVED:
            counts["survived"] += 1
            survivors.append(name)
        elif code in NO_TESTS:
            counts["no_tests"] += 1
            survivors.append(name)
        else:
            counts["other"] += 1
            survivors.append(name)
    judged = counts["total"] - counts["equivalent"] - counts["not_checked"]
    score = 100.0 * (counts["killed"] + counts["timeout"]) / judged if judged else 0.0  # nothing judged: no score
    return {**counts, "score": round(score, 1), "survivors": survivors, "equivalents": equivalents}


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            f":!{REPORT.relative_to(ROOT)}"],  # the report this script rewrites is not a change
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+uncommitted" if dirty else "")


def _fresh_cell(r: dict[str, Any]) -> str:
    f = r.get("fresh")
    return f"{f['minutes']:.1f} ({f['load']:.1f})" if f else "n/a"


def _fresh_total(fresh: list[dict[str, Any] | None]) -> str:
    if not fresh or any(f is None for f in fresh):
        return "Complete fresh run: not measured (a module has no fresh run on record)."
    total = sum(f["minutes"] for f in fresh)
    dates = sorted(f["date"] for f in fresh)
    return (f"Complete fresh run (sum of the modules' fresh runs, {dates[0]} to {dates[-1]} UTC, one mutmut child, "
            f"nice 15): **{total:.1f} minutes**, at load averages {min(f['load'] for f in fresh):.1f} to "
            f"{max(f['load'] for f in fresh):.1f} on {os.cpu_count()} cores.")


def _save(work: Path, module: str, result: dict[str, Any]) -> None:
    text = json.dumps(result, indent=2)
    (work / "result.json").write_text(text, encoding="utf-8")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{slug(module)}.json").write_text(text + "\n", encoding="utf-8")


def write_report(tool: dict[str, Any]) -> None:
    rows, details, fresh = [], [], []
    for module in tool["mutation"]["modules"]:
        path = RESULTS / f"{slug(module)}.json"
        if not path.exists():
            rows.append(f"| `{module}` | not run | | | | | | | | |")
            continue
        r = json.loads(path.read_text(encoding="utf-8"))
        rows.append(f"| `{module}` | {r['total']} | {r['killed'] + r['timeout']} | {r['survived'] + r['no_tests'] + r['other']} "
                    f"| {r['equivalent']} | {r.get('not_checked', 0)} | **{r['score']:.1f}%** | {r['minutes']:.1f} "
                    f"| {_fresh_cell(r)} | {r['date']} | `{r['commit']}` |")
        fresh.append(r.get("fresh"))
        if r["survivors"] or r["equivalents"]:
            details += ["", f"### `{module}`", ""]
            details += [f"- survived: `{name}`" for name in r["survivors"]]
            details += [f"- equivalent: `{e['mutant']}`: {e['reason']}" for e in r["equivalents"]]
    text = [
        "# Mutation testing of the decision modules",
        "",
        "Generated by `make mutation` (`scripts/mutation.py`, mutmut, configured in `pyproject.toml`): each module is",
        "mutated against its own unit tests only (`[tool.mutation.modules]`). Score = (killed + timeout) /",
        "(total - equivalent - not checked); the target is 80% per module. Killed includes mutants stopped by a",
        "timeout; survived includes mutants no test reached. *Not checked* counts mutants an interrupted run left",
        "without a verdict: a score with any is provisional. *Minutes* is the wall time of the last run, which only",
        "tests new mutants and retests the previous survivors (run with `--fresh` for a full run's time).",
        "Equivalent mutants are listed in `[tool.mutation.equivalent]` with the reason no test can tell them apart.",
        "*Fresh run* is the wall time of the module's last full run (`--fresh`, every mutant tested) with the",
        "1-minute load average when it ended; their sum is what one complete `make mutation MUTATION_ARGS=--fresh` takes.",
        "See a mutant with `cd .mutation/<module> && ../../.venv/bin/mutmut show <name>`.",
        "",
        "| module | total | killed | survived | equivalent | not checked | score | minutes | fresh run: minutes "
        "(load avg) | date (UTC) | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        _fresh_total(fresh),
        "",
        "## Survivors and equivalent mutants",
        *(details or ["", "None."]),
        "",
    ]
    REPORT.write_text("\n".join(text), encoding="utf-8")


SHOW = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
for name in json.load(open("result.json"))["survivors"]:
    print("#", name)
    print(get_diff_for_mutant(name, path=sys.argv[1]))
"""


def show(module: str) -> int:
    """Print the diff of each survivor of the last run of ``module``."""
    work = WORK / slug(module)
    return subprocess.call([str(ROOT / ".venv" / "bin" / "python"), "-c", SHOW, module], cwd=work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", help="module path or stem (repeatable); default: all")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutant runs (the machine is shared)")
    parser.add_argument("--nice", type=int, default=15, help="niceness of the mutmut runs (at least the caller's)")
    parser.add_argument("--fresh", action="store_true", help="forget cached verdicts (delete .mutation/<module>)")
    parser.add_argument("--min-score", type=float, default=80.0)
    parser.add_argument("--report-only", action="store_true", help="rewrite tests/MUTATION.md from the last runs")
    parser.add_argument("--show", metavar="MODULE", help="print the surviving mutants of MODULE's last run")
    args = parser.parse_args(argv)

    tool = load_config()
    if args.show:
        return show(next(m for m in tool["mutation"]["modules"] if args.show in (m, slug(m))))
    modules = list(tool["mutation"]["modules"])
    if args.module:
        wanted = set(args.module)
        modules = [m for m in modules if m in wanted or slug(m) in wanted]
        if not modules:
            parser.error(f"no module matches {sorted(wanted)}; known: {[slug(m) for m in tool['mutation']['modules']]}")
    equivalent = dict(tool["mutation"].get("equivalent", {}))
    low = []
    if args.report_only:  # re-read the verdicts mutmut saved, also those of an interrupted run
        for module in modules:
            work = WORK / slug(module)
            if (work / "mutants" / (module + ".meta")).exists():
                old = json.loads((work / "result.json").read_text()) if (work / "result.json").exists() else {}
                result = collect(work, module, equivalent)
                result.update(minutes=old.get("minutes", 0.0), date=old.get("date", "interrupted"), fresh=old.get("fresh"),
                              commit=old.get("commit", git_commit()))
                _save(work, module, result)
    for module in [] if args.report_only else modules:
        work = prepare(tool, module, args.fresh)
        print(f"mutating {module} against {', '.join(tool['mutation']['modules'][module])} ...", flush=True)
        rc, seconds = run_mutmut(work, module, args.max_children, args.nice)
        if rc != 0:
            print(f"mutmut failed on {module} (exit {rc}); see {work / 'mutmut.log'}", file=sys.stderr)
            return 2
        old = json.loads((work / "result.json").read_text()) if (work / "result.json").exists() else {}
        result = collect(work, module, equivalent)
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
        result.update(minutes=seconds / 60, date=now, commit=git_commit(),
                      fresh={"minutes": seconds / 60, "date": now, "load": os.getloadavg()[0]} if args.fresh
                      else old.get("fresh"))
        _save(work, module, result)
        print(f"  {result['score']:.1f}%: {result['killed'] + result['timeout']} killed, {result['survived']} survived, "
              f"{result['no_tests']} without tests, {result['equivalent']} equivalent of {result['total']} "
              f"({seconds / 60:.1f} min)", flush=True)
        if result["score"] < args.min_score:
            low.append(module)
    write_report(tool)
    print(f"wrote {REPORT.relative_to(ROOT)}")
    if low:
        print(f"below {args.min_score:g}%: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
