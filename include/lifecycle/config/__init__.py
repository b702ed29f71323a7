"""Use-case configuration: one YAML per use case under ``include/config/``.

The loader validates the file up front and raises :class:`ConfigError` naming the use case and the
offending key, so a typo in a YAML is a one-line message and not a KeyError deep inside training.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = PROJECT_ROOT / "include" / "config"


def default_config_dir() -> Path:
    """Where use-case YAMLs are read from: ``$LIFECYCLE_CONFIG_DIR`` (a deployment's own), else the bundled ones."""
    return Path(os.environ["LIFECYCLE_CONFIG_DIR"]) if os.environ.get("LIFECYCLE_CONFIG_DIR") else CONFIG_DIR
COLUMN_KINDS = ("numeric", "binary", "categorical")


class ConfigError(ValueError):
    """A use-case YAML is missing a key or holds a value of the wrong kind."""


@dataclass(frozen=True)
class UseCase:
    """A validated use case. ``raw`` keeps the whole YAML for sections read by one module only."""

    name: str
    raw: dict[str, Any]
    path: Path
    sha256: str = field(default="")

    # -- dataset -----------------------------------------------------------------------------
    @property
    def id_column(self) -> str:
        return self.raw["dataset"]["id"]

    @property
    def target(self) -> str:
        return self.raw["dataset"]["target"]

    @property
    def positive_label(self) -> Any:
        return self.raw["dataset"]["positive_label"]

    @property
    def labels(self) -> list[Any]:
        return list(self.raw["dataset"]["labels"])

    @property
    def data_file(self) -> Path:
        return resolve_path(self.raw["dataset"]["file"])

    @property
    def columns(self) -> dict[str, dict[str, Any]]:
        """Feature columns and their contract, in file order."""
        return self.raw["columns"]

    def columns_of_kind(self, *kinds: str) -> list[str]:
        return [c for c, spec in self.columns.items() if spec["kind"] in kinds]

    @property
    def feature_columns(self) -> list[str]:
        return list(self.columns)

    @property
    def slices(self) -> list[str]:
        return list(self.raw.get("slices", []))

    @property
    def source(self) -> dict[str, Any]:
        return self.section("source")

    def section(self, key: str) -> dict[str, Any]:
        value = self.raw.get(key) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"use case {self.name!r}: section {key!r} must be a mapping")
        return value


def resolve_path(value: str | os.PathLike[str]) -> Path:
    """Relative paths in a YAML are relative to the project root, not to the working directory."""
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _require(raw: dict[str, Any], dotted: str, kind: type | tuple[type, ...], name: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"use case {name!r}: missing key {dotted!r}")
        node = node[part]
    if not isinstance(node, kind):
        raise ConfigError(f"use case {name!r}: key {dotted!r} must be {kind}, got {type(node).__name__}")
    return node


def validate(raw: dict[str, Any], name: str) -> None:
    """Check the keys every module relies on. Module-specific optional keys have defaults."""
    for key, kind in (
        ("name", str),
        ("dataset.file", str),
        ("dataset.id", str),
        ("dataset.target", str),
        ("dataset.labels", list),
        ("columns", dict),
        ("evaluation.primary_metric", str),
        ("evaluation.thresholds", dict),
        ("candidates", list),
    ):
        _require(raw, key, kind, name)
    if "positive_label" not in raw["dataset"]:
        raise ConfigError(f"use case {name!r}: missing key 'dataset.positive_label'")
    if raw["dataset"]["positive_label"] not in raw["dataset"]["labels"]:
        raise ConfigError(f"use case {name!r}: dataset.positive_label must be one of dataset.labels")
    for col, spec in raw["columns"].items():
        if not isinstance(spec, dict) or spec.get("kind") not in COLUMN_KINDS:
            raise ConfigError(f"use case {name!r}: columns.{col}.kind must be one of {COLUMN_KINDS}")
        if spec["kind"] == "categorical" and not isinstance(spec.get("values"), list):
            raise ConfigError(f"use case {name!r}: columns.{col}.values must list the allowed categories")
    for col in raw.get("slices", []):
        if col not in raw["columns"]:
            raise ConfigError(f"use case {name!r}: slice {col!r} is not a configured column")
    for i, cand in enumerate(raw["candidates"]):
        for key in ("name", "estimator"):
            if key not in cand:
                raise ConfigError(f"use case {name!r}: candidates[{i}] needs {key!r}")


def load_use_case(name_or_path: str | os.PathLike[str], config_dir: Path | None = None) -> UseCase:
    """Load ``include/config/<name>.yaml`` (or an explicit path) and validate it."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        path = resolve_path(candidate)
    else:
        path = (config_dir or default_config_dir()) / f"{name_or_path}.yaml"
    if not path.exists():
        raise ConfigError(f"use case {str(name_or_path)!r}: no config file at {path}")
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"use case file {path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"use case file {path}: top level must be a mapping")
    name = str(raw.get("name") or path.stem)
    validate(raw, name)
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return UseCase(name=name, raw=raw, path=path, sha256=digest)


def list_use_cases(config_dir: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (config_dir or default_config_dir()).glob("*.yaml"))
