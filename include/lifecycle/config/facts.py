"""What a use case's data file says about itself (header, target values, sha256), checked against its YAML.

Read with the standard library only (no pandas), and cached on disk per (path, size, mtime), so DAG parsing
can afford the check: a YAML whose target or labels disagree with its data is refused at load time, not
after every label of a day was quarantined.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

MAX_DISTINCT = 20  # a target with more distinct values than this is not a binary label


def _cache_file(path: Path, stat: os.stat_result) -> Path:
    tag = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / "lifecycle-data-facts" / f"{tag}.json"


def data_facts(path: Path, target: str) -> dict[str, Any]:
    """``{"header": [...], "rows": n, "target_values": [...], "sha256": ...}`` of a CSV (optionally gzip)."""
    stat = path.stat()
    cache = _cache_file(path, stat)
    if cache.is_file():
        try:
            facts = json.loads(cache.read_text())
            if facts.get("target") == target:
                return facts
        except (OSError, ValueError):
            pass
    data = path.read_bytes()
    text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    reader = csv.reader(io.StringIO(text.decode("utf-8-sig"), newline=""))
    header = [h.strip() for h in next(reader, [])]
    index = header.index(target) if target in header else None
    values: set[str] = set()
    rows = 0
    for record in reader:
        if not record:
            continue
        rows += 1
        if index is not None and index < len(record) and len(values) <= MAX_DISTINCT and record[index].strip():
            values.add(record[index].strip())
    facts = {"target": target, "header": header, "rows": rows, "target_values": sorted(values),
             "sha256": hashlib.sha256(data).hexdigest()}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(facts))
        os.replace(tmp, cache)
    except OSError:
        pass  # a cache we cannot write only costs the next parse a re-read
    return facts


def check_against_data(config: dict[str, Any]) -> list[str]:
    """Problems between a validated config (as a dict) and its ``dataset.file``; [] when there is no file."""
    from include.lifecycle.config import resolve_path

    dataset = config["dataset"]
    if not dataset.get("file"):
        return []
    path = resolve_path(dataset["file"])
    if not path.is_file():
        return [f"dataset.file: no file at {path}"]
    try:
        facts = data_facts(path, str(dataset["target"]))
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:
        return [f"dataset.file: {path.name} cannot be read as CSV ({type(exc).__name__}: {exc})"]
    problems = []
    if dataset.get("sha256") and facts["sha256"] != dataset["sha256"]:
        problems.append(f"dataset.sha256: {path.name} has sha256 {facts['sha256']}, not the configured one "
                        "(restore the file, or update the sha256 on purpose)")
    header = facts["header"]
    for key in ("id", "target"):
        if dataset[key] not in header:
            problems.append(f"dataset.{key}: {dataset[key]!r} is not a column of {path.name} (columns: {header})")
    problems += [f"columns.{col}: not a column of {path.name}" for col in config["columns"] if col not in header]
    if dataset["target"] in header:
        found = facts["target_values"]
        labels = [str(v) for v in dataset["labels"]]
        unknown = [v for v in found if v not in labels]
        if unknown:
            hint = ""
            lowered = {v.lower() for v in labels}
            if all(v.lower() in lowered for v in unknown):
                hint = " (the values differ only in upper/lower case)"
            problems.append(f"dataset.labels: {path.name}'s {dataset['target']!r} holds {found}, but labels are "
                            f"{labels}{hint}; every label of that data would be quarantined")
        if str(dataset["positive_label"]) not in found and not unknown:
            problems.append(f"dataset.positive_label: {dataset['positive_label']!r} never occurs in "
                            f"{path.name}'s {dataset['target']!r} ({found})")
    return problems
