"""Validated use cases cached on disk, keyed by the YAML's text, so a DAG file's parse skips YAML and pydantic.

Every generated DAG file (and every task process, which parses its DAG file again) loads every use case. A hit
costs reading the YAML, one sha256 and a stat of each file the validation looked at (the data file, the suite);
a miss validates as before. Only valid use cases are stored: an invalid YAML is validated again every time, so its
error is always the current one. The key covers the validation code too (this package's files, pydantic's
version, the project folder), so a changed schema or check never answers from an old entry.

The folder is per user (``<tmp>/lifecycle-config-cache-<uid>``, mode 0700); one that another user owns or can
write is ignored, since an entry decides which DAGs exist and which estimator classes a task may build.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 1  # bump when an entry's shape changes
KEEP = 200  # entries kept: every edit of a YAML (and every test's scratch config) adds one
_CODE = ("__init__.py", "cache.py", "facts.py", "schema.py")


def cache_dir() -> Path | None:
    """This user's cache folder, created on first use; None when it cannot be made or is not safely ours."""
    folder = Path(tempfile.gettempdir()) / f"lifecycle-config-cache-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = folder.lstat()
    except OSError:
        return None
    if not folder.is_dir() or folder.is_symlink() or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return folder


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


@functools.cache
def _code_stamp() -> str:
    from pydantic.version import VERSION  # the installed pydantic may validate (and fill defaults) differently

    here = Path(__file__).resolve().parent
    return json.dumps([FORMAT, str(here), VERSION, [_stamp(here / name) for name in _CODE]])


def _entry_file(folder: Path, path: Path, text: str, check_files: bool) -> Path:
    key = json.dumps([_code_stamp(), str(path.resolve()), check_files, hashlib.sha256(text.encode()).hexdigest()])
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def lookup(path: Path, text: str, check_files: bool) -> dict[str, Any] | None:
    """``{"name", "raw", "sha256"}`` of the use case validated from exactly ``text``, if every file it was checked
    against is unchanged; else None."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        entry = json.loads(_entry_file(folder, path, text, check_files).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or any(_stamp(Path(dep)) != stamp for dep, stamp in entry.get("deps", {}).items()):
        return None
    return entry


def store(path: Path, text: str, check_files: bool, name: str, raw: dict[str, Any], sha256: str,
          deps: list[Path]) -> None:
    """Remember a valid use case and the stamps of the files its validation read; a failed write only costs a miss."""
    folder = cache_dir()
    if folder is None:
        return
    entry = {"name": name, "raw": raw, "sha256": sha256, "deps": {str(p): _stamp(p) for p in deps}}
    target = _entry_file(folder, path, text, check_files)
    try:
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entry))
        os.replace(tmp, target)
        entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
