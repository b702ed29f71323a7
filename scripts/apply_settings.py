"""Apply ``airflow_settings.yaml`` (Astro CLI format) and per-use-case defaults through Airflow's own import.

Everything is validated first — the settings file and every use-case YAML — and a malformed entry is reported by
name with nothing applied. ``${VAR}`` / ``${VAR:-default}`` placeholders are filled from the environment so that
no secret lives in the file. Then ``airflow connections import``, ``airflow pools import`` and ``airflow variables
import`` write it, from JSON files in a private temp dir (mode 0600, deleted afterwards, never printed).

Each use-case YAML (``$LIFECYCLE_CONFIG_DIR`` or ``include/config/``) adds defaults: pools
``lifecycle_training__<name>`` / ``lifecycle_scoring__<name>`` (``resources.training_slots`` / ``scoring_slots``,
default 2) and variables ``approval_smes_<name>`` (``approval.assigned_smes``) and ``lifecycle_drift_<name>``
(``"false"``). An entry written in the settings file wins; a variable already in the DB keeps its value.

    python scripts/apply_settings.py [airflow_settings.yaml] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CONN_KEYS = {"conn_id", "conn_type", "conn_host", "conn_schema", "conn_login", "conn_password", "conn_port",
             "conn_extra", "conn_description", "conn_uri"}
POOL_KEYS = {"pool_name", "pool_slot", "pool_description", "pool_include_deferred"}
VAR_KEYS = {"variable_name", "variable_value", "variable_description"}


class SettingsError(ValueError):
    """A settings entry is missing, malformed or references an unset environment variable."""


def _expand(value: Any, where: str, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}", env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise SettingsError(f"{where}: environment variable {name} is not set (use ${{{name}:-default}} for a default)")

    return PLACEHOLDER.sub(sub, value)


def _entries(section: Any, name: str) -> list[dict[str, Any]]:
    if section is None:
        return []
    if not isinstance(section, list):
        raise SettingsError(f"airflow.{name} must be a list of entries, got {type(section).__name__}")
    for i, entry in enumerate(section):
        if not isinstance(entry, dict):
            raise SettingsError(f"airflow.{name}[{i}] must be a mapping, got {type(entry).__name__}")
    return section


def parse_settings(text: str, env: dict[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Parse and validate the file's text; return normalised connections, pools and variables."""
    env = dict(os.environ if env is None else env)
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"airflow_settings.yaml is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("airflow", {}), dict):
        raise SettingsError("airflow_settings.yaml must have a top-level 'airflow:' mapping")
    root = doc.get("airflow") or {}
    unknown = set(root) - {"connections", "pools", "variables"}
    if unknown:
        raise SettingsError(f"airflow: unknown section(s) {sorted(unknown)}; expected connections, pools, variables")

    conns, pools, variables = [], [], []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(_entries(root.get("connections"), "connections")):
        label = f"connection {raw.get('conn_id') or f'#{i}'}"
        extra_keys = set(raw) - CONN_KEYS
        if extra_keys:
            raise SettingsError(f"{label}: unknown key(s) {sorted(extra_keys)}")
        entry = _expand(raw, label, env)
        if not entry.get("conn_id") or not isinstance(entry["conn_id"], str):
            raise SettingsError(f"{label}: conn_id is required")
        if not entry.get("conn_type") and not entry.get("conn_uri"):
            raise SettingsError(f"{label}: conn_type is required")
        if entry.get("conn_uri") and "://" not in str(entry["conn_uri"]):
            raise SettingsError(f"{label}: conn_uri must look like type://[login:password@]host[:port]/schema")
        port = entry.get("conn_port")
        if port not in (None, ""):
            try:
                entry["conn_port"] = int(port)
            except (TypeError, ValueError) as exc:
                raise SettingsError(f"{label}: conn_port must be a number, got {port!r}") from exc
        else:
            entry["conn_port"] = None
        extra = entry.get("conn_extra")
        if isinstance(extra, str) and extra.strip():
            try:
                extra = json.loads(extra)
            except json.JSONDecodeError as exc:
                raise SettingsError(f"{label}: conn_extra is not valid JSON: {exc}") from exc
        if extra not in (None, "") and not isinstance(extra, dict):
            raise SettingsError(f"{label}: conn_extra must be a mapping")
        # Empty placeholders (e.g. no S3 endpoint on a laptop) are dropped, not stored as "".
        entry["conn_extra"] = {k: v for k, v in (extra or {}).items() if v not in (None, "")}
        key = ("connection", entry["conn_id"])
        if key in seen:
            raise SettingsError(f"{label}: defined twice")
        seen.add(key)
        conns.append(entry)
    for i, raw in enumerate(_entries(root.get("pools"), "pools")):
        label = f"pool {raw.get('pool_name') or f'#{i}'}"
        extra_keys = set(raw) - POOL_KEYS
        if extra_keys:
            raise SettingsError(f"{label}: unknown key(s) {sorted(extra_keys)}")
        entry = _expand(raw, label, env)
        if not entry.get("pool_name"):
            raise SettingsError(f"{label}: pool_name is required")
        try:
            entry["pool_slot"] = int(entry.get("pool_slot"))
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{label}: pool_slot must be a whole number, got {entry.get('pool_slot')!r}") from exc
        if entry["pool_slot"] < 0:
            raise SettingsError(f"{label}: pool_slot must be >= 0")
        key = ("pool", entry["pool_name"])
        if key in seen:
            raise SettingsError(f"{label}: defined twice")
        seen.add(key)
        pools.append(entry)
    for i, raw in enumerate(_entries(root.get("variables"), "variables")):
        label = f"variable {raw.get('variable_name') or f'#{i}'}"
        extra_keys = set(raw) - VAR_KEYS
        if extra_keys:
            raise SettingsError(f"{label}: unknown key(s) {sorted(extra_keys)}")
        entry = _expand(raw, label, env)
        if not entry.get("variable_name"):
            raise SettingsError(f"{label}: variable_name is required")
        if "variable_value" not in entry or entry["variable_value"] is None:
            raise SettingsError(f"{label}: variable_value is required")
        value = entry["variable_value"]
        entry["variable_value"] = value if isinstance(value, str) else json.dumps(value)
        key = ("variable", entry["variable_name"])
        if key in seen:
            raise SettingsError(f"{label}: defined twice")
        seen.add(key)
        variables.append(entry)
    return {"connections": conns, "pools": pools, "variables": variables}


def _config_dir() -> Path:
    return Path(os.environ.get("LIFECYCLE_CONFIG_DIR") or PROJECT_ROOT / "include" / "config")


def use_case_defaults(config_dir: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Pools and variables every *valid* use-case YAML implies, in the normalised shape of :func:`parse_settings`.

    The YAMLs are validated by the same loader the DAG files use; an invalid one gets no defaults (its DAGs are
    not built either, and the Airflow UI shows why), and is named on stderr rather than blocking the others.
    """
    if str(PROJECT_ROOT) not in sys.path:  # run as `python scripts/apply_settings.py`
        sys.path.insert(0, str(PROJECT_ROOT))
    from include.lifecycle.config import load_all

    good, bad = load_all(Path(config_dir or _config_dir()))
    for path, exc in bad.items():
        print(f"warning: use case {path.name} is invalid, no pools or variables for it: {'; '.join(exc.problems)}",
              file=sys.stderr)
    pools: list[dict[str, Any]] = []
    variables: list[dict[str, Any]] = []
    for name, uc in sorted(good.items()):
        source = f"default from {uc.path.name}"
        resources = uc.section("resources")
        for kind in ("training", "scoring"):
            pools.append({"pool_name": f"lifecycle_{kind}__{name}", "pool_slot": int(resources[f"{kind}_slots"]),
                          "pool_description": f"{kind} slots of use case {name} ({source})"})
        variables.append({"variable_name": f"approval_smes_{name}",
                          "variable_value": ",".join(uc.section("approval")["assigned_smes"]),
                          "variable_description": f"SMEs who may approve {name} models ({source})"})
        variables.append({"variable_name": f"lifecycle_drift_{name}", "variable_value": "false",
                          "variable_description": f"replay the drift scenario of {name} ({source})"})
    return {"pools": pools, "variables": variables}


def without_explicit(defaults: dict[str, list[dict[str, Any]]],
                     settings: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The defaults the settings file does not set itself (an entry written there wins)."""
    pools = {p["pool_name"] for p in settings["pools"]}
    variables = {v["variable_name"] for v in settings["variables"]}
    return {"pools": [p for p in defaults["pools"] if p["pool_name"] not in pools],
            "variables": [v for v in defaults["variables"] if v["variable_name"] not in variables]}


def _connection(c: dict[str, Any]) -> Any:
    """One entry of ``airflow connections import``'s JSON (a URI string, or the connection's fields)."""
    if c.get("conn_uri"):
        return c["conn_uri"]
    out: dict[str, Any] = {"conn_type": c["conn_type"]}
    for key in ("host", "schema", "login", "password", "port", "description"):
        if c.get(f"conn_{key}") not in (None, ""):
            out[key] = c[f"conn_{key}"]
    if c["conn_extra"]:
        out["extra"] = json.dumps(c["conn_extra"])
    return out


def _variables(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {v["variable_name"]: ({"value": v["variable_value"], "description": v["variable_description"]}
                                 if v.get("variable_description") else v["variable_value"]) for v in entries}


def import_files(settings: dict[str, list[dict[str, Any]]],
                 defaults: dict[str, list[dict[str, Any]]]) -> list[tuple[str, dict[str, Any], list[str]]]:
    """``(file name, JSON content, airflow CLI args)`` per import, in the order they run; empty ones left out."""
    pools = settings["pools"] + defaults["pools"]
    steps = [
        ("connections.json", {c["conn_id"]: _connection(c) for c in settings["connections"]},
         ["connections", "import", "{file}", "--overwrite"]),
        ("pools.json", {p["pool_name"]: {"slots": p["pool_slot"], "description": p.get("pool_description") or "",
                                         "include_deferred": bool(p.get("pool_include_deferred", False))}
                        for p in pools},
         ["pools", "import", "{file}"]),
        ("variables.json", _variables(settings["variables"]),
         ["variables", "import", "{file}", "--action-on-existing-key", "overwrite"]),
        ("variable-defaults.json", _variables(defaults["variables"]),
         ["variables", "import", "{file}", "--action-on-existing-key", "skip"]),
    ]
    return [step for step in steps if step[1]]


def _secrets(settings: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Values that must not reach the terminal even inside an error message of the airflow CLI."""
    values = [str(c.get(k)) for c in settings["connections"] for k in ("conn_password", "conn_uri") if c.get(k)]
    values += [str(v) for c in settings["connections"] for v in c["conn_extra"].values()]
    values += [str(v["variable_value"]) for v in settings["variables"]]
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def _airflow() -> str:
    beside = Path(sys.executable).with_name("airflow")
    return str(beside) if beside.exists() else (shutil.which("airflow") or "airflow")


def apply(settings: dict[str, list[dict[str, Any]]], defaults: dict[str, list[dict[str, Any]]]) -> None:
    """Run the imports (needs the Airflow environment of the target home); raise SettingsError on a failure.

    Each ``airflow ... import`` commits on its own; everything was validated before, so a failure here is the
    DB or the CLI, and the message says which step failed and that the earlier steps were applied.
    """
    workdir = Path(tempfile.mkdtemp(prefix="lifecycle-settings-"))  # 0700, only this user can list it
    done: list[str] = []
    try:
        for name, content, args in import_files(settings, defaults):
            path = workdir / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(content, fh)
            cmd = [_airflow(), *[str(path) if a == "{file}" else a for a in args]]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
            output = proc.stdout + proc.stderr
            if proc.returncode != 0 or "Could not import" in output or "failed to be updated" in output:
                for secret in _secrets(settings):
                    output = output.replace(secret, "***")
                tail = "\n".join(output.strip().splitlines()[-8:])
                applied = f"; already applied: {', '.join(done)}" if done else "; nothing was applied"
                raise SettingsError(f"`airflow {' '.join(args[:2])}` failed ({proc.returncode}){applied}:\n{tail}")
            done.append(" ".join(args[:2]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _counts(entries: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {k: len(v) for k, v in entries.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(PROJECT_ROOT / "airflow_settings.yaml"))
    parser.add_argument("--check", action="store_true", help="validate only, write nothing")
    args = parser.parse_args(argv)
    path = Path(args.file)
    if not path.exists():
        print(f"error: settings file {path} not found", file=sys.stderr)
        return 2
    try:
        settings = parse_settings(path.read_text(encoding="utf-8"))
        defaults = without_explicit(use_case_defaults(), settings)
    except SettingsError as exc:
        print(f"error: {path.name}: {exc} (nothing was applied)", file=sys.stderr)
        return 2
    counts, extra = _counts(settings), _counts(defaults)
    if args.check:
        print(f"{path.name}: ok " + json.dumps(counts) + " use-case defaults " + json.dumps(extra))
        return 0
    try:
        apply(settings, defaults)
    except SettingsError as exc:
        print(f"error: {path.name}: {exc}", file=sys.stderr)
        return 1
    print(f"applied {path.name}: {counts['connections']} connections, {counts['pools']} pools, "
          f"{counts['variables']} variables; use-case defaults: {extra['pools']} pools, {extra['variables']} "
          f"variables (variables already set were kept)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
