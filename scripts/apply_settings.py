"""Apply ``airflow_settings.yaml`` (Astro CLI format) to the Airflow metadata DB.

Everything is validated before anything is written, and the writes happen in one DB transaction: a
malformed entry is reported by name and nothing is half-applied. ``${VAR}`` / ``${VAR:-default}``
placeholders are filled from the environment so that no secret lives in the file.

    python scripts/apply_settings.py [airflow_settings.yaml] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

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


def apply(settings: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Upsert everything in one transaction (needs the Airflow environment of the target home)."""
    # The metadata-DB ORM models on purpose: airflow.sdk's Connection/Variable are not ORM classes.
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        for c in settings["connections"]:
            existing = session.query(Connection).filter(Connection.conn_id == c["conn_id"]).one_or_none()
            if existing is not None:
                session.delete(existing)
                session.flush()
            if c.get("conn_uri"):
                conn = Connection(conn_id=c["conn_id"], uri=c["conn_uri"])
            else:
                conn = Connection(
                    conn_id=c["conn_id"], conn_type=c["conn_type"], host=c.get("conn_host") or None,
                    schema=c.get("conn_schema") or None, login=c.get("conn_login") or None,
                    password=c.get("conn_password") or None, port=c.get("conn_port"),
                    extra=json.dumps(c["conn_extra"]) if c["conn_extra"] else None,
                    description=c.get("conn_description"),
                )
            session.add(conn)
        for p in settings["pools"]:
            pool = session.query(Pool).filter(Pool.pool == p["pool_name"]).one_or_none()
            if pool is None:
                pool = Pool(pool=p["pool_name"], include_deferred=bool(p.get("pool_include_deferred", False)))
                session.add(pool)
            pool.slots = p["pool_slot"]
            pool.description = p.get("pool_description")
        for v in settings["variables"]:
            existing = session.query(Variable).filter(Variable.key == v["variable_name"]).one_or_none()
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(Variable(key=v["variable_name"], val=v["variable_value"],
                                 description=v.get("variable_description")))
    return {k: len(v) for k, v in settings.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(Path(__file__).resolve().parents[1] / "airflow_settings.yaml"))
    parser.add_argument("--check", action="store_true", help="validate only, write nothing")
    args = parser.parse_args(argv)
    path = Path(args.file)
    if not path.exists():
        print(f"error: settings file {path} not found", file=sys.stderr)
        return 2
    try:
        settings = parse_settings(path.read_text(encoding="utf-8"))
    except SettingsError as exc:
        print(f"error: {path.name}: {exc} (nothing was applied)", file=sys.stderr)
        return 2
    if args.check:
        print(f"{path.name}: ok " + json.dumps({k: len(v) for k, v in settings.items()}))
        return 0
    counts = apply(settings)
    print(f"applied {path.name}: {counts['connections']} connections, {counts['pools']} pools, "
          f"{counts['variables']} variables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
