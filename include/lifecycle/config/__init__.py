"""Use-case configuration: one YAML per use case in the config folder (``include/config/`` or
``$LIFECYCLE_CONFIG_DIR``), validated against a declared schema (:mod:`.schema`) and against its data file.

Loading is all-or-nothing: :func:`load_use_case` returns a :class:`UseCase` only when the file passes every
check, else it raises :class:`ConfigError` listing every problem with the file and the key's dotted path.
This is the one validation the DAG files (at parse time) and every task use.
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
COLUMN_KINDS = ("numeric", "binary", "categorical")


def default_config_dir() -> Path:
    """Where use-case YAMLs are read from: ``$LIFECYCLE_CONFIG_DIR`` (a deployment's own), else the bundled ones."""
    return Path(os.environ["LIFECYCLE_CONFIG_DIR"]) if os.environ.get("LIFECYCLE_CONFIG_DIR") else CONFIG_DIR


class ConfigError(ValueError):
    """A use-case YAML breaks the schema or disagrees with its data; ``problems`` lists each, with its key."""

    def __init__(self, message: str, problems: list[str] | None = None, path: Path | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]
        self.path = path


@dataclass(frozen=True)
class UseCase:
    """A validated use case. ``raw`` is the config with every default filled in (``None`` values dropped)."""

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
        if not self.raw["dataset"].get("file"):
            raise ConfigError(f"use case {self.name!r}: dataset.file is not set", path=self.path)
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

    @property
    def model_name(self) -> str:
        return str(self.raw.get("model_name") or self.name)

    def section(self, key: str) -> dict[str, Any]:
        value = self.raw.get(key) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"use case {self.name!r}: section {key!r} must be a mapping", path=self.path)
        return value


def resolve_path(value: str | os.PathLike[str]) -> Path:
    """Relative paths in a YAML are relative to the project root, not to the working directory."""
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _fail(path: Path, problems: list[str]) -> ConfigError:
    shown = "\n".join(f"  - {p}" for p in problems)
    return ConfigError(f"use case file {path}: {len(problems)} problem(s):\n{shown}", problems, path)


def parse_use_case(raw: Any, path: Path, *, check_files: bool = True) -> UseCase:
    """Validate a loaded YAML document; raise :class:`ConfigError` with every problem found."""
    from pydantic import ValidationError

    from include.lifecycle.config.schema import UseCaseConfig, errors_of

    if not isinstance(raw, dict):
        raise _fail(path, ["(top level): must be a mapping of keys to values"])
    raw = {"name": path.stem, **raw}
    try:
        model = UseCaseConfig.model_validate(raw)
    except ValidationError as exc:
        raise _fail(path, errors_of(exc)) from None
    problems = []
    if model.name != path.stem:
        problems.append(f"name: {model.name!r} must match the file name {path.name!r} (one use case per file, "
                        f"named after it)")
    data = model.model_dump(mode="json", exclude_none=True)
    data["validation"].setdefault("suite", f"include/expectations/{model.name}.json")
    if check_files:
        from include.lifecycle.config.facts import check_against_data

        suite = resolve_path(data["validation"]["suite"])
        if not suite.is_file():
            problems.append(f"validation.suite: no suite file at {suite}; write it with "
                            f"`make usecase-suite NAME={model.name}`")
        problems += check_against_data(data)
    if problems:
        raise _fail(path, problems)
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return UseCase(name=model.name, raw=data, path=path, sha256=digest)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(path, [f"(top level): cannot be read: {exc}"]) from None
    return _yaml(text, path)


def _yaml(text: str, path: Path) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(path, [f"(top level): not valid YAML: {' '.join(str(exc).split())}"]) from None


def load_use_case(name_or_path: str | os.PathLike[str], config_dir: Path | None = None,
                  *, check_files: bool = True) -> UseCase:
    """Load ``<config dir>/<name>.yaml`` (or an explicit path) and validate it."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        path = resolve_path(candidate)
    else:
        path = (config_dir or default_config_dir()) / f"{name_or_path}.yaml"
    if not path.exists():
        raise ConfigError(f"use case {str(name_or_path)!r}: no config file at {path}", path=path)
    return parse_use_case(read_yaml(path), path, check_files=check_files)


def use_case_files(config_dir: Path | None = None) -> list[Path]:
    folder = config_dir or default_config_dir()
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def list_use_cases(config_dir: Path | None = None) -> list[str]:
    return sorted({p.stem for p in use_case_files(config_dir)})


def load_all(config_dir: Path | None = None, *, check_files: bool = True
             ) -> tuple[dict[str, UseCase], dict[Path, ConfigError]]:
    """Every valid use case by name, and every invalid file with its error; one bad file never hides the others.

    Two files for one name (``x.yaml`` and ``x.yml``) are both refused: neither may win silently.
    """
    good: dict[str, UseCase] = {}
    bad: dict[Path, ConfigError] = {}
    files = use_case_files(config_dir)
    stems = [p.stem for p in files]
    for path in files:
        if stems.count(path.stem) > 1:
            others = [str(p.name) for p in files if p.stem == path.stem and p != path]
            bad[path] = _fail(path, [f"name: use case {path.stem!r} is also defined by {', '.join(others)}"])
            continue
        try:
            good[path.stem] = _load_cached(path, check_files)
        except ConfigError as exc:
            bad[path] = exc
    return good, bad


def _load_cached(path: Path, check_files: bool) -> UseCase:
    """:func:`parse_use_case` of the file, answered from :mod:`.cache` when this exact text was valid before."""
    from include.lifecycle.config import cache

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(path, [f"(top level): cannot be read: {exc}"]) from None
    hit = cache.lookup(path, text, check_files)
    if hit is not None:
        return UseCase(name=hit["name"], raw=hit["raw"], path=path, sha256=hit["sha256"])
    uc = parse_use_case(_yaml(text, path), path, check_files=check_files)
    deps = []
    if check_files:  # the files the validation read: a change to either must validate again
        deps.append(resolve_path(uc.raw["validation"]["suite"]))
        if uc.raw["dataset"].get("file"):
            deps.append(uc.data_file)
    cache.store(path, text, check_files, uc.name, uc.raw, uc.sha256, deps)
    return uc
