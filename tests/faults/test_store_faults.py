"""Storage faults injected for real, at the library level (Airflow adds nothing to them).

* S3 through a fault-injecting proxy of ours in front of a real moto server: 503s, 500s, an answer lost after
  the write happened, a stalled connection, an upload cut mid-body. The store retries with backoff; the
  registry ends with one version whose bytes verify and a ledger without duplicates.
* A local store on a full disk and on a read-only one (a tiny tmpfs in a private mount namespace): a clear
  error naming the path, the previous bytes intact, nothing half-written.
* A process SIGKILLed in the middle of writing a large artifact: no partial object is visible, and the retry
  completes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from include.lifecycle.store import LocalStore, S3Store, default_s3_config
from tests.faults.conftest import wait_for
from tests.faults.s3proxy import FaultyS3Proxy

pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parents[2]
FAULTS = ("503", "500", "500-after", "stall", "drop")


def _client(endpoint: str, read_timeout: float = 60):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                        region_name="us-east-1",
                        config=default_s3_config().merge(Config(read_timeout=read_timeout, connect_timeout=2)))


def test_s3_faults_are_retried_and_the_registry_stays_consistent(moto_endpoint, small_uc, sample):
    from include.lifecycle.model.registry import registry_for
    from tests.unit.registered import train_and_register

    bucket = "faults-registry"
    _client(moto_endpoint).create_bucket(Bucket=bucket)
    cycle = itertools.cycle(FAULTS)

    def plan(method: str, path: str, n: int) -> str | None:
        return next(cycle) if n % 3 == 0 else None  # every third request fails, each kind in turn

    started = time.monotonic()
    with FaultyS3Proxy(moto_endpoint, plan, stall_s=3) as proxy:
        store = S3Store(f"s3://{bucket}/lifecycle", client=_client(proxy.endpoint, read_timeout=1.5))
        manifest = train_and_register(store, small_uc, sample, run_id="faulty-s3")
        version = manifest["version"]
        registry = registry_for(store, small_uc)
        registry.promote(version, actor="sme_alice", comment="through a faulty S3", expected_champion=None)
        ledger = registry.ledger()
    print(f"faulty S3: {dict(proxy.injected)} injected, {proxy.forwarded} forwarded, "
          f"{time.monotonic() - started:.1f}s")
    assert set(proxy.injected) == set(FAULTS), proxy.injected

    # Checked straight against moto, not through the proxy.
    direct = S3Store(f"s3://{bucket}/lifecycle", client=_client(moto_endpoint))
    registry = registry_for(direct, small_uc)
    assert registry.latest_version() == version == 1
    registry.evidence_hashes(version, verify=True)  # every artifact's bytes match the manifest's sha256
    for name, art in direct.read_json(registry._manifest_key(version))["artifacts"].items():
        assert hashlib.sha256(direct.read_bytes(art["key"])).hexdigest() == art["sha256"], name
    events = [(e["event"], e["version"]) for e in ledger]
    assert events == [("registered", 1), ("promoted", 1)], events
    assert len({e["id"] for e in registry.ledger()}) == len(registry.ledger()) == 2
    assert registry.alias_version("champion") == version


def test_s3_lost_answers_to_conditional_writes_make_no_duplicates(moto_endpoint, small_uc, sample):
    """The write landed but its answer was lost: the retried create/replace finds its own bytes, not a rival."""
    from include.lifecycle.model.registry import registry_for
    from tests.unit.registered import train_and_register

    bucket = "faults-lost-answers"
    _client(moto_endpoint).create_bucket(Bucket=bucket)
    hit: set[str] = set()

    def plan(method: str, path: str, n: int) -> str | None:
        kind = next((k for k in ("/ledger/", "/manifest.json", "/aliases/") if k in path), None)
        if method == "PUT" and kind and kind not in hit:
            hit.add(kind)
            return "500-after"  # the first conditional PUT of each kind: applied, then answered 500
        return None

    with FaultyS3Proxy(moto_endpoint, plan) as proxy:
        store = S3Store(f"s3://{bucket}/lifecycle", client=_client(proxy.endpoint))
        version = train_and_register(store, small_uc, sample, run_id="lost-answers")["version"]
        registry_for(store, small_uc).promote(version, actor="sme_alice", expected_champion=None)
    assert proxy.injected["500-after"] == 3, proxy.injected
    registry = registry_for(S3Store(f"s3://{bucket}/lifecycle", client=_client(moto_endpoint)), small_uc)
    assert registry.latest_version() == version == 1
    assert [(e["event"], e["version"]) for e in registry.ledger()] == [("registered", 1), ("promoted", 1)]
    assert registry.alias_version("champion") == 1


def test_s3_stalled_endpoint_gives_up_with_a_clear_error(moto_endpoint):
    """An endpoint that never answers costs a bounded time per try, then a clear error, not a hung task."""
    from botocore.exceptions import ReadTimeoutError

    with FaultyS3Proxy(moto_endpoint, lambda m, p, n: "stall", stall_s=2) as proxy:
        store = S3Store("s3://never/lifecycle", client=_client(proxy.endpoint, read_timeout=0.5))
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError, match=str(proxy.server.server_address[1])):
            store.write_bytes("models/x.bin", b"x")
        took = time.monotonic() - started
    assert proxy.injected["stall"] >= 6  # default_s3_config's max_attempts: 1 try + 5 retries, then it gives up
    assert took < 30, took


# -- a full or read-only local disk ------------------------------------------------------------------------
CHILD = r"""
import json, os, subprocess, sys
root, mode = sys.argv[1], sys.argv[2]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", root], check=True)
from include.lifecycle.store import LocalStore, StoreError
store = LocalStore(root)
store.write_bytes("models/churn/versions/1/model.skops", b"previous bytes")
if mode == "readonly":
    subprocess.run(["mount", "-o", "remount,ro", root], check=True)
out = {}
try:
    store.write_bytes("models/churn/versions/1/model.skops", b"n" * 1024 * 1024)
    out["error"] = None
except StoreError as exc:
    out["error"] = str(exc)
try:
    store.create("models/churn/versions/2/manifest.json", b"m" * 1024 * 1024)
    out["create_error"] = None
except StoreError as exc:
    out["create_error"] = str(exc)
out["previous_intact"] = store.read_bytes("models/churn/versions/1/model.skops") == b"previous bytes"
out["files"] = sorted(str(p.relative_to(root)) for p in __import__("pathlib").Path(root).rglob("*") if p.is_file())
print(json.dumps(out))
"""


def _in_private_mount_namespace(tmp_path: Path, mode: str) -> dict:
    if not shutil.which("unshare"):
        pytest.fail("util-linux `unshare` is needed to give the test its own tiny disk")
    root = tmp_path / "store"
    root.mkdir()
    userns = [] if os.geteuid() == 0 else ["-r"]  # an unprivileged user maps itself to root in a user namespace
    proc = subprocess.run(["unshare", *userns, "-m", "--propagation", "private", sys.executable, "-c", CHILD,
                           str(root), mode], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode, reason", [("full", "No space left on device"), ("readonly", "Read-only file system")])
def test_local_store_full_or_read_only(tmp_path, mode, reason):
    out = _in_private_mount_namespace(tmp_path, mode)
    for error, key in ((out["error"], "versions/1/model.skops"), (out["create_error"], "versions/2/manifest.json")):
        assert error and reason in error and key in error and "nothing was written" in error, out
    assert out["previous_intact"], out
    assert out["files"] == ["models/churn/versions/1/model.skops"], out  # no temp file, no half object


# -- a writer SIGKILLed mid-write ---------------------------------------------------------------------------
WRITER = r"""
import sys
from include.lifecycle.store import LocalStore
LocalStore(sys.argv[1]).write_bytes("training/run-1/candidates/hgb/model.skops", b"\x07" * int(sys.argv[2]))
"""


def test_writer_killed_mid_write_leaves_no_partial_object_and_the_retry_completes(tmp_path):
    root, key, size = tmp_path / "store", "training/run-1/candidates/hgb/model.skops", 256 * 1024 * 1024
    folder = root / "training/run-1/candidates/hgb"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(size)], env=env, cwd=ROOT)
    try:
        def writing():
            temps = list(folder.glob(".model.skops.*.tmp")) if folder.exists() else []
            return temps and temps[0].stat().st_size > 0 and temps[0]

        temp = wait_for(writing, 60, "the writer to be half-way through its temp file", interval=0.005)
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
    partial = temp.stat().st_size if temp.exists() else 0
    store = LocalStore(root)
    assert not store.exists(key), "a partial object became visible under the key"
    assert store.list("training/") == []
    print(f"killed with {partial} of {size} bytes in a hidden temp file")

    retry = subprocess.run([sys.executable, "-c", WRITER, str(root), str(size)], env=env, cwd=ROOT, timeout=300)
    assert retry.returncode == 0
    assert store.list("training/") == [key]
    assert hashlib.sha256(store.read_bytes(key)).hexdigest() == hashlib.sha256(b"\x07" * size).hexdigest()
