"""The state one benchmark run carries: mode, scratch directory, shared fixtures built once, a log."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import PROJECT_ROOT, ChildResult, load_average, python_child


@dataclass
class Context:
    workdir: Path
    quick: bool = False
    log_file: Path | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs = self.workdir / "logs"
        self.logs.mkdir(exist_ok=True)

    def say(self, message: str) -> None:
        line = f"[{time.perf_counter() - self.started:7.1f}s load {load_average()[0]:.2f}] {message}"
        print(line, flush=True)
        if self.log_file is not None:
            with open(self.log_file, "a") as fh:
                fh.write(line + "\n")

    def stage(self, stage: str, tag: str, timeout: float, **options: Any) -> ChildResult:
        """Run ``bench.stages <stage>`` in a child; raise with the log tail when it fails."""
        result_path = self.logs / f"{tag}.json"
        args = ["-m", "bench.stages", stage, "--result", str(result_path)]
        for key, value in options.items():
            if value is not None:
                args += [f"--{key.replace('_', '-')}", str(value)]
        child = python_child(args, self.logs / f"{tag}.log", timeout, result_path=result_path)
        if not child.ok:
            raise RuntimeError(f"stage {stage} ({tag}) exited {child.returncode} after {child.wall_s:.0f}s; "
                               f"log {child.log}:\n{child.tail()}")
        return child

    def dump(self, name: str, data: Any) -> None:
        (self.workdir / f"{name}.json").write_text(json.dumps(data, indent=2, default=str))


def rel(path: Path | str) -> str:
    """A path as shown in RESULTS.md: relative to the project when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(p)
