"""The model registry, on the artifact store: immutable versions, CAS-moved aliases, an append-only ledger.

Layout under ``models/<name>/``::

    versions/<v>/manifest.json          created with store.create -> the version number is claimed
    versions/<v>/<upload>/model.skops   written BEFORE the manifest; <upload> is unique per attempt so
                                        two writers racing for <v> never overwrite each other's bytes
    aliases/<alias>.json                moved with compare-and-swap (version_tag + replace)
    ledger/<seq>-<uuid>.json            one object per event, store.create only: never overwritten

Nothing here imports scikit-learn at module level: the approval gate and the CLI read manifests and
the ledger cheaply; only :meth:`ModelRegistry.load_model` pulls in skops.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from include.lifecycle import layout
from include.lifecycle.store import (
    ArtifactStore,
    ConflictError,
    StoreError,
    json_bytes,
    open_store,
    retry_on_conflict,
    sha256_bytes,
)

log = logging.getLogger(__name__)

_ANY: Any = object()  # "whatever the alias currently points to" (still CAS against what was read)
_ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")
_EVENT_RE = re.compile(r"^[a-z][a-z_]{1,40}$")
CHAMPION_EVENTS = ("promoted", "rolled_back")


class RegistryError(RuntimeError):
    """A registry request names something that does not exist or is malformed."""


class IntegrityError(RegistryError):
    """Stored bytes no longer match the sha256 recorded when the version was registered."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def parse_time(value: str | datetime) -> datetime:
    """ISO-8601 (``Z`` allowed); a naive time is taken as UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ModelRegistry:
    def __init__(self, store: ArtifactStore, name: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
            raise RegistryError(f"model name {name!r} is not key-safe")
        self.store = store
        self.name = name
        self.prefix = layout.registry_prefix(name)

    # -- versions ---------------------------------------------------------------------------
    def _manifest_key(self, version: int) -> str:
        return layout.manifest_key(self.name, version)

    def versions(self) -> list[int]:
        found = []
        for key in self.store.list(f"{self.prefix}/versions/"):
            match = re.search(r"/versions/(\d+)/manifest\.json$", key)
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def latest_version(self) -> int | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def manifest(self, version: int) -> dict[str, Any]:
        try:
            return self.store.read_json(self._manifest_key(version))
        except StoreError as exc:
            raise RegistryError(f"model {self.name!r} has no version {version}") from exc

    def find_by_run(self, run_id: str) -> int | None:
        """The version a training run registered, so a retried register step does not register twice."""
        for version in reversed(self.versions()):
            if self.manifest(version).get("run_id") == run_id:
                return version
        return None

    def register(
        self,
        model_bytes: bytes,
        *,
        evaluation: dict[str, Any],
        comparison: dict[str, Any],
        qa: dict[str, Any],
        lineage: dict[str, Any],
        record: dict[str, Any] | None = None,
        champion_evaluation: dict[str, Any] | None = None,
        model_card: dict[str, str] | None = None,
        requirements: dict[str, Any] | None = None,
        actor: str = "lifecycle",
        run_id: str | None = None,
        max_attempts: int = 50,
    ) -> dict[str, Any]:
        """Store the artifacts, then claim the next free version by creating its manifest; return the manifest."""
        record = record or {}
        model_sha = sha256_bytes(model_bytes)
        evaluation_doc = {"candidate": evaluation, "champion": champion_evaluation, "comparison": comparison}
        files: dict[str, bytes] = {
            "model.skops": model_bytes,
            "evaluation.json": json_bytes(evaluation_doc),
            "qa.json": json_bytes(qa),
            "lineage.json": json_bytes(lineage),
        }
        if record:
            files["training_record.json"] = json_bytes(record)
        if model_card:
            files["model_card.md"] = model_card["markdown"].encode("utf-8")
            files["model_card.html"] = model_card["html"].encode("utf-8")
        version = (self.latest_version() or 0) + 1
        for _attempt in range(max_attempts):
            upload = uuid.uuid4().hex[:12]
            base = layout.upload_prefix(self.name, version, upload)
            artifacts = {}
            for fname, data in files.items():
                self.store.write_bytes(f"{base}/{fname}", data)
                artifacts[fname] = {"key": f"{base}/{fname}", "sha256": sha256_bytes(data), "bytes": len(data)}
            manifest = self._manifest(version, artifacts, evaluation, comparison, qa, lineage, record,
                                      champion_evaluation, requirements, actor, run_id, model_sha)
            try:
                self.store.create(self._manifest_key(version), json_bytes(manifest))
            except ConflictError:
                self.store.delete_prefix(base + "/")
                version = max(version + 1, (self.latest_version() or 0) + 1)
                continue
            self.append("registered", version, actor, comment=f"registered from run {run_id}",
                        hashes=self.evidence_hashes(version, verify=False),
                        details={"blessed": comparison.get("blessed"), "qa_passed": qa.get("passed")})
            return manifest
        raise RegistryError(f"model {self.name!r}: no free version after {max_attempts} attempts")

    def _manifest(self, version: int, artifacts: dict[str, Any], evaluation: dict[str, Any],
                  comparison: dict[str, Any], qa: dict[str, Any], lineage: dict[str, Any], record: dict[str, Any],
                  champion_evaluation: dict[str, Any] | None, requirements: dict[str, Any] | None, actor: str,
                  run_id: str | None, model_sha: str) -> dict[str, Any]:
        boot = evaluation.get("bootstrap", {})
        return {
            "model": self.name,
            "version": version,
            "created_at": utc_now(),
            "created_by": actor,
            "run_id": run_id,
            "candidate": {k: record.get(k) for k in ("name", "estimator", "best_params", "cv_metric", "cv_score")},
            "metrics": evaluation.get("metrics", {}),
            "evaluation_summary": {
                "primary_metric": evaluation.get("primary_metric"),
                "value": boot.get("point"),
                "ci": [boot.get("low"), boot.get("high")],
                "confidence": boot.get("confidence"),
                "threshold": evaluation.get("threshold"),
                "holdout_rows": evaluation.get("rows"),
                "holdout_sha256": evaluation.get("holdout_sha256"),
                "champion_version": comparison.get("champion_version"),
                "champion_metrics": (champion_evaluation or {}).get("metrics"),
            },
            "blessing": {
                "blessed": bool(comparison.get("blessed")),
                "reasons": comparison.get("reasons", []),
                "failed_checks": [c for c in comparison.get("checks", []) if c.get("status") == "fail"],
            },
            "qa": {"passed": bool(qa.get("passed")),
                   "checks": {k: {f: v.get(f) for f in ("value", "bound", "passed")}
                              for k, v in qa.get("checks", {}).items()}},
            "lineage": {k: lineage.get(k) for k in ("as_of", "features", "labels", "joined_rows", "train_rows",
                                                    "holdout_rows")},
            "lineage_sha256": lineage.get("lineage_sha256"),
            "config_sha256": record.get("config_sha256"),
            "code_version": record.get("code_version", "unknown"),
            "model_sha256": model_sha,
            "runtime_requirements": requirements or {},
            "artifacts": artifacts,
        }

    def artifact(self, version: int, name: str) -> bytes:
        """An artifact's bytes, checked against the manifest's sha256."""
        entry = self.manifest(version)["artifacts"].get(name)
        if entry is None:
            raise RegistryError(f"model {self.name!r} v{version} has no artifact {name!r}")
        data = self.store.read_bytes(entry["key"])
        if sha256_bytes(data) != entry["sha256"]:
            raise IntegrityError(f"{self.store.uri(entry['key'])}: sha256 differs from the manifest of v{version}")
        return data

    def load_model(self, version: int | None = None, alias: str | None = None) -> Any:
        """The fitted pipeline of a version (or an alias), only if its bytes match the manifest."""
        if version is None:
            if alias is None:
                raise RegistryError("load_model needs a version or an alias")
            version = self.alias_version(alias)
            if version is None:
                raise RegistryError(f"model {self.name!r} has no {alias!r} alias")
        manifest = self.manifest(version)
        data = self.store.read_bytes(manifest["artifacts"]["model.skops"]["key"])
        if sha256_bytes(data) != manifest["model_sha256"]:
            raise IntegrityError(f"model {self.name!r} v{version}: model.skops sha256 differs from the manifest")
        from include.lifecycle.model.packaging import loads_model, runtime_requirements

        wanted = (manifest.get("runtime_requirements") or {}).get("packages", {})
        have = runtime_requirements()["packages"]
        drift = {k: (v, have.get(k)) for k, v in wanted.items() if have.get(k) != v}
        if drift:
            log.warning("model %s v%s was built with other package versions: %s", self.name, version, drift)
        return loads_model(data)

    def evidence_hashes(self, version: int, verify: bool = True) -> dict[str, str]:
        """The hashes an approval binds to; with ``verify`` the stored bytes are re-hashed first."""
        manifest_bytes = self.store.read_bytes(self._manifest_key(version))
        manifest = json.loads(manifest_bytes)
        arts = manifest["artifacts"]
        if verify:
            for name in ("model.skops", "evaluation.json", "qa.json"):
                self.artifact(version, name)
        return {
            "manifest_sha256": sha256_bytes(manifest_bytes),
            "model_sha256": manifest["model_sha256"],
            "evaluation_sha256": arts["evaluation.json"]["sha256"],
            "qa_sha256": arts["qa.json"]["sha256"],
            "lineage_sha256": str(manifest.get("lineage_sha256")),
        }

    # -- aliases ----------------------------------------------------------------------------
    def _alias_key(self, alias: str) -> str:
        if not _ALIAS_RE.match(alias):
            raise RegistryError(f"alias {alias!r} is not a valid name")
        return layout.alias_key(self.name, alias)

    def get_alias(self, alias: str) -> dict[str, Any] | None:
        key = self._alias_key(alias)
        return self.store.read_json(key) if self.store.exists(key) else None

    def alias_version(self, alias: str) -> int | None:
        doc = self.get_alias(alias)
        return int(doc["version"]) if doc else None

    def aliases(self) -> dict[str, int]:
        out = {}
        for key in self.store.list(f"{self.prefix}/aliases/"):
            if key.endswith(".json"):
                out[key.rsplit("/", 1)[1][:-5]] = int(self.store.read_json(key)["version"])
        return out

    def set_alias(self, alias: str, version: int, expected_version: int | None = _ANY,
                  actor: str = "lifecycle") -> dict[str, Any]:
        """Point ``alias`` at ``version`` if it still points at ``expected_version`` (None: unset).

        Raises ConflictError when the alias moved in between — the caller re-reads and decides again.
        """
        key = self._alias_key(alias)
        self.manifest(version)  # the version must exist
        tag = self.store.version_tag(key)
        current = self.store.read_json(key) if tag is not None else None
        current_version = int(current["version"]) if current else None
        if expected_version is not _ANY and current_version != expected_version:
            raise ConflictError(
                f"model {self.name!r}: alias {alias!r} points to v{current_version}, expected v{expected_version}"
            )
        doc = {"alias": alias, "version": int(version), "previous_version": current_version,
               "set_at": utc_now(), "set_by": actor}
        self.store.replace(key, json_bytes(doc), tag)
        return doc

    # -- ledger -----------------------------------------------------------------------------
    def append(self, event: str, version: int | None, actor: str, comment: str = "",
               hashes: dict[str, Any] | None = None, details: dict[str, Any] | None = None) -> dict[str, Any]:
        """Add one ledger entry as a new object; existing entries are never rewritten."""
        if not _EVENT_RE.match(event):
            raise RegistryError(f"ledger event {event!r} is not a valid name")

        def attempt() -> dict[str, Any]:
            seq = self._last_seq() + 1
            entry_id = uuid.uuid4().hex
            entry = {"model": self.name, "seq": seq, "id": entry_id, "event": event,
                     "version": None if version is None else int(version), "actor": actor, "at": utc_now(),
                     "comment": comment, "hashes": hashes or {}, "details": details or {}}
            self.store.create(layout.ledger_entry_key(self.name, seq, entry_id), json_bytes(entry))
            return entry

        try:
            return retry_on_conflict(attempt, what=f"the ledger of {self.name!r}")
        except ConflictError as exc:
            raise RegistryError(f"model {self.name!r}: could not append to the ledger ({exc})") from exc

    def _ledger_keys(self) -> list[str]:
        return [k for k in self.store.list(f"{self.prefix}/ledger/") if k.endswith(".json")]

    def _last_seq(self) -> int:
        keys = self._ledger_keys()
        return max((int(k.rsplit("/", 1)[1].split("-", 1)[0]) for k in keys), default=0)

    def ledger(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (concurrent appends may share a seq; they are then ordered by time)."""
        entries = [{**self.store.read_json(k), "key": k} for k in self._ledger_keys()]
        return sorted(entries, key=lambda e: (e["seq"], e["at"], e["id"]))

    def champion_at(self, moment: str | datetime) -> int | None:
        """Which version was champion at ``moment``, replayed from promoted / rolled_back entries."""
        when = parse_time(moment)
        champion = None
        for entry in self.ledger():
            if entry["event"] in CHAMPION_EVENTS and parse_time(entry["at"]) <= when:
                champion = entry["version"]
        return champion

    # -- promotion --------------------------------------------------------------------------
    def _move_champion(self, event: str, version: int, actor: str, comment: str,
                       approval: dict[str, Any] | None, expected_champion: int | None,
                       expected_hashes: dict[str, str] | None) -> dict[str, Any]:
        previous = self.alias_version("champion")
        expected = previous if expected_champion is _ANY else expected_champion
        details = {"attempted_event": event, "expected_champion": expected}
        try:
            hashes = self.evidence_hashes(version, verify=True)  # never promote bytes that changed
            mismatched = sorted(k for k, v in (expected_hashes or {}).items() if hashes.get(k) != v)
            if mismatched:
                raise IntegrityError(f"model {self.name!r} v{version}: evidence changed since approval: {mismatched}")
            self.set_alias("champion", version, expected_version=expected, actor=actor)
        except (ConflictError, IntegrityError) as exc:
            self.append("promotion_refused", version, actor, comment=str(exc), details=details)
            raise
        return self.append(event, version, actor, comment, hashes=hashes,
                           details={"previous_version": previous, "approval": approval or {}})

    def promote(self, version: int, actor: str, comment: str = "", approval: dict[str, Any] | None = None,
                expected_champion: int | None = _ANY,
                expected_hashes: dict[str, str] | None = None) -> dict[str, Any]:
        """Move ``champion`` to ``version`` (CAS); the previous champion stays registered and loadable.

        The stored evidence is re-hashed first; ``expected_hashes`` (what an approver saw) must match.
        """
        return self._move_champion("promoted", version, actor, comment, approval, expected_champion,
                                   expected_hashes)

    def rollback(self, version: int, actor: str, comment: str = "", approval: dict[str, Any] | None = None,
                 expected_champion: int | None = _ANY,
                 expected_hashes: dict[str, str] | None = None) -> dict[str, Any]:
        """Move ``champion`` back to an earlier ``version``; recorded as rolled_back for champion_at."""
        return self._move_champion("rolled_back", version, actor, comment, approval, expected_champion,
                                   expected_hashes)


def registry_for(store: ArtifactStore, uc: Any) -> ModelRegistry:
    """The registry of a use case (``model_name`` in its YAML, else the use-case name)."""
    return ModelRegistry(store, str(uc.raw.get("model_name") or uc.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.lifecycle.model.registry",
                                     description="Read the model registry: champion at a time, the ledger.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("champion-at", "which version was champion at a time"),
                            ("ledger", "print the ledger, oldest first"),
                            ("versions", "list versions and aliases")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--model", required=True)
        cmd.add_argument("--root", default=None, help="artifact store root (default $LIFECYCLE_ARTIFACT_ROOT)")
        if name == "champion-at":
            cmd.add_argument("--at", required=True, help="ISO time, e.g. 2026-01-05T00:00Z")
    args = parser.parse_args(argv)
    registry = ModelRegistry(open_store(args.root), args.model)
    if args.command == "champion-at":
        at = parse_time(args.at)
        out: Any = {"model": args.model, "at": at.isoformat(), "champion_version": registry.champion_at(at)}
    elif args.command == "ledger":
        out = [{k: e[k] for k in ("seq", "at", "event", "version", "actor", "comment")} for e in registry.ledger()]
    else:
        out = {"model": args.model, "versions": registry.versions(), "aliases": registry.aliases()}
    json.dump(out, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
