"""Artifact store: a local directory by default, ``s3://bucket/prefix`` through boto3.

Every artifact of the lifecycle (batches, quarantine, features, models, reports, the registry and its
ledger) is addressed by a *key* relative to one root, so the same code runs on a laptop and on S3.

Writes are atomic: locally temp-file-then-rename; on S3 a PUT is atomic by nature. Two operations
serve the registry's "two writers never both win" rule:

* :meth:`ArtifactStore.create` writes only if the key does not exist (``O_EXCL`` locally,
  ``If-None-Match: *`` on S3);
* :meth:`ArtifactStore.replace` writes only if the key still holds the version the caller read
  (a lock + compare locally, ``If-Match: <etag>`` on S3).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from include.lifecycle.config import PROJECT_ROOT

DEFAULT_LOCAL_ROOT = PROJECT_ROOT / ".artifacts"
T = TypeVar("T")
# Artifacts are read by other accounts on purpose (a spreadsheet user, a web server, a backup job) and hold no
# secret, so files are 0644 and folders 0755 whatever the writer's umask; mkstemp alone would leave 0600.
FILE_MODE = 0o644
DIR_MODE = 0o755


def _mkdirs(path: Path) -> None:
    """``mkdir -p`` whose new folders are DIR_MODE even under a strict umask."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
            os.chmod(folder, DIR_MODE)


class StoreError(RuntimeError):
    """A storage operation failed; the message names the URI."""


class ConflictError(StoreError):
    """A conditional write lost: somebody else created or changed the key first."""


def retry_on_conflict(attempt: Callable[[], T], *, attempts: int = 20, what: str = "a conditional write") -> T:
    """Run a read-decide-write ``attempt`` until its conditional write (create / replace) wins.

    Each try re-reads, so a lost race decides again on fresh state instead of overwriting the winner.
    """
    last: ConflictError | None = None
    for _ in range(attempts):
        try:
            return attempt()
        except ConflictError as exc:
            last = exc
    raise ConflictError(f"{what}: gave up after {attempts} concurrent updates ({last})")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    """Base class; use :func:`open_store`."""

    root: str

    # -- primitives implemented by subclasses -----------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def write_bytes(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (recursive), sorted."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def create(self, key: str, data: bytes) -> None:
        """Write ``key`` only if it does not exist yet; raise :class:`ConflictError` otherwise."""
        raise NotImplementedError

    def version_tag(self, key: str) -> str | None:
        """An opaque tag of the key's current content (None if absent), for :meth:`replace`."""
        raise NotImplementedError

    def replace(self, key: str, data: bytes, expected_tag: str | None) -> None:
        """Write ``key`` only if its tag is still ``expected_tag`` (None: must not exist)."""
        raise NotImplementedError

    def uri(self, key: str) -> str:
        raise NotImplementedError

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for ``key`` when the store is local (for HTML reports in the UI)."""
        return None

    # Streaming, for a batch larger than memory: size(key), open_read(key) (a binary file object read as it is
    # consumed), write_file(key, local_path) -> sha256 of the bytes, copy(src, dst); each subclass has its own.

    # -- conveniences -----------------------------------------------------------------------
    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def write_text(self, key: str, text: str) -> None:
        self.write_bytes(key, text.encode("utf-8"))

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, json_bytes(obj))

    def write_frame(self, key: str, frame: Any) -> str:
        """Write a DataFrame as Parquet; return the sha256 of the bytes written."""
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        data = buf.getvalue()
        self.write_bytes(key, data)
        return sha256_bytes(data)

    def read_frame(self, key: str, columns: list[str] | None = None) -> Any:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(self.read_bytes(key)), columns=columns)

    def sha256(self, key: str) -> str:
        return sha256_bytes(self.read_bytes(key))


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


class LocalStore(ArtifactStore):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.base = Path(str(root).removeprefix("file://")).resolve()
        _mkdirs(self.base)
        self.root = self.base.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.base / key.lstrip("/")).resolve()
        if self.base not in path.parents and path != self.base:
            raise StoreError(f"key {key!r} escapes the store root {self.base}")
        return path

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"no artifact at {path.as_uri()}") from exc

    def _staged(self, path: Path, fill: Callable[[Any], Any], size: str = "") -> str:
        """A hidden temp file beside ``path`` filled by ``fill(fh)``, fsynced; a full or read-only disk names ``path``."""
        tmp = ""
        try:
            _mkdirs(path.parent)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                fill(fh)
                fh.flush()
                os.fsync(fh.fileno())
            return tmp
        except OSError as exc:
            if tmp:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise StoreError(f"cannot write {path.as_uri()}: {exc.strerror or exc} (nothing was written{size})") from exc

    def _install(self, key: str, fill: Callable[[Any], Any], size: str = "") -> None:
        path = self._path(key)
        tmp = self._staged(path, fill, size)
        try:
            os.replace(tmp, path)  # readers see the old bytes or the new ones, never a part
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise StoreError(f"cannot write {path.as_uri()}: {exc.strerror or exc}") from exc
            raise

    def write_bytes(self, key: str, data: bytes) -> None:
        self._install(key, lambda fh: fh.write(data), f"; {len(data)} bytes")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise StoreError(f"no artifact at {self.uri(key)}") from exc

    def open_read(self, key: str) -> Any:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise StoreError(f"no artifact at {self.uri(key)}") from exc

    def write_file(self, key: str, path: Path) -> str:
        with open(path, "rb") as src:
            self._install(key, lambda fh: _copy_stream(src, fh))
        return file_sha256(path)

    def copy(self, src: str, dst: str) -> None:
        with self.open_read(src) as source:
            self._install(dst, lambda fh: _copy_stream(source, fh))

    def list(self, prefix: str = "") -> list[str]:
        start = self._path(prefix) if prefix else self.base
        if start.is_file():
            return [prefix]
        if not start.exists():
            return []
        keys = [
            str(p.relative_to(self.base))
            for p in start.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        ]
        return sorted(keys)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        path = self._path(key)
        _mkdirs(path.parent)
        with open(path.parent / f".{path.name}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def create(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._staged(path, lambda fh: fh.write(data), f"; {len(data)} bytes")
        try:
            os.link(tmp, path)  # atomic, fails if the target exists
        except FileExistsError as exc:
            raise ConflictError(f"{path.as_uri()} already exists") from exc
        finally:
            os.unlink(tmp)

    def version_tag(self, key: str) -> str | None:
        path = self._path(key)
        return sha256_bytes(path.read_bytes()) if path.is_file() else None

    def replace(self, key: str, data: bytes, expected_tag: str | None) -> None:
        with self._lock(key):
            current = self.version_tag(key)
            if current != expected_tag:
                raise ConflictError(f"{self.uri(key)} changed since it was read")
            self.write_bytes(key, data)


def default_s3_config() -> Any:
    """Retries with backoff on 500/503/throttling, dropped connections and stalls, each try bounded in time.

    boto3's "standard" mode retries every call (PUT bodies are replayed whole: an object is never partial), with
    exponential backoff and jitter; a stalled endpoint costs ``read_timeout`` per try, not a hung task.
    """
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 6}, connect_timeout=10, read_timeout=60)


class S3Store(ArtifactStore):
    """``s3://bucket/prefix``; ``client_kwargs`` go to ``boto3.client('s3', ...)`` (endpoint_url, keys)."""

    def __init__(self, root: str, client: Any = None, **client_kwargs: Any) -> None:
        if not root.startswith("s3://"):
            raise StoreError(f"not an s3:// root: {root!r}")
        bucket, _, prefix = root.removeprefix("s3://").partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        if client is None:
            import boto3

            client_kwargs.setdefault("config", default_s3_config())
            client = boto3.client("s3", **{k: v for k, v in client_kwargs.items() if v is not None})
        self.client = client

    def _key(self, key: str) -> str:
        key = key.lstrip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _error(self, exc: Exception) -> str:
        return getattr(exc, "response", {}).get("Error", {}).get("Code", "")

    def read_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise StoreError(f"no artifact at {self.uri(key)}") from exc

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def size(self, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except ClientError as exc:
            if self._error(exc) in ("404", "NoSuchKey", "NotFound"):
                raise StoreError(f"no artifact at {self.uri(key)}") from exc
            raise

    def open_read(self, key: str) -> Any:
        try:  # botocore's StreamingBody: read(n) pulls the object as it is consumed
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except self.client.exceptions.NoSuchKey as exc:
            raise StoreError(f"no artifact at {self.uri(key)}") from exc

    def write_file(self, key: str, path: Path) -> str:
        self.client.upload_file(str(path), self.bucket, self._key(key))  # multipart above boto3's threshold
        return file_sha256(path)

    def copy(self, src: str, dst: str) -> None:  # server-side, multipart when large (boto3's managed copy)
        self.client.copy({"Bucket": self.bucket, "Key": self._key(src)}, self.bucket, self._key(dst))

    def exists(self, key: str) -> bool:
        return self.version_tag(key) is not None

    def list(self, prefix: str = "") -> list[str]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                k = obj["Key"]
                keys.append(k[len(self.prefix) + 1 :] if self.prefix else k)
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def create(self, key: str, data: bytes) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if self._error(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                if self._holds(key, data):
                    return  # our own first try landed and only its answer was lost; the retry found it
                raise ConflictError(f"{self.uri(key)} already exists") from exc
            raise

    def _holds(self, key: str, data: bytes) -> bool:
        """True when ``key`` already holds exactly ``data`` (a retried conditional PUT after a lost answer)."""
        try:
            return self.read_bytes(key) == data
        except StoreError:
            return False

    def version_tag(self, key: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ETag"]
        except ClientError as exc:
            if self._error(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def replace(self, key: str, data: bytes, expected_tag: str | None) -> None:
        from botocore.exceptions import ClientError

        if expected_tag is None:
            self.create(key, data)
            return
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfMatch=expected_tag)
        except ClientError as exc:
            if self._error(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                if self._holds(key, data):
                    return
                raise ConflictError(f"{self.uri(key)} changed since it was read") from exc
            raise


def _copy_stream(source: Any, target: Any) -> None:
    while block := source.read(1 << 22):
        target.write(block)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def default_root() -> str:
    return os.environ.get("LIFECYCLE_ARTIFACT_ROOT") or str(DEFAULT_LOCAL_ROOT)


def open_store(root: str | None = None, **s3_kwargs: Any) -> ArtifactStore:
    """Open the store at ``root`` (default: ``$LIFECYCLE_ARTIFACT_ROOT`` or ``./.artifacts``).

    For ``s3://`` roots, ``s3_kwargs`` (endpoint_url, aws_access_key_id, ...) reach boto3; the DAG
    side fills them from the Airflow ``aws`` connection.
    """
    root = root or default_root()
    if root.startswith("s3://"):
        return S3Store(root, **s3_kwargs)
    return LocalStore(root)
