"""Hostile content cannot run or inject: a crafted model file is refused at load, data values are escaped in
the HTML reports people open."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from include.lifecycle import layout
from include.lifecycle.data import validation
from include.lifecycle.model.packaging import UntrustedTypeError
from include.lifecycle.model.registry import registry_for
from include.lifecycle.store import sha256_bytes

DATA = Path(__file__).resolve().parents[1] / "data"
PAYLOAD = "<script>alert('owned')</script>"


def test_a_crafted_skops_file_in_the_registry_is_refused_at_load(store, small_uc, sample, tmp_path):
    """Someone with write access to the store swaps in a model that would call os.system on load, and even
    fixes the manifest's sha256: the registry's load path still refuses it and nothing runs."""
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from tests.unit.registered import train_and_register

    version = train_and_register(store, small_uc, sample, run_id="crafted")["version"]
    registry = registry_for(store, small_uc)
    marker = tmp_path / "ran"
    evil = sio.dumps(FunctionTransformer(os.system, kw_args={"command": f"touch {marker}"}))
    manifest_key = registry._manifest_key(version)
    manifest = store.read_json(manifest_key)
    store.write_bytes(manifest["artifacts"]["model.skops"]["key"], evil)
    manifest["model_sha256"] = manifest["artifacts"]["model.skops"]["sha256"] = sha256_bytes(evil)
    store.write_json(manifest_key, manifest)

    with pytest.raises(UntrustedTypeError, match=r"posix\.system|os\.system"):
        registry.load_model(version)
    assert not marker.exists()


def test_a_script_tag_in_a_batch_is_escaped_in_the_validation_report(store):
    from include.lifecycle.config import load_use_case

    uc = load_use_case("churn")
    lines = (DATA / "churn_clean.csv").read_text().splitlines()
    header, first = lines[0].split(","), lines[1].split(",")
    first[header.index("contract")] = PAYLOAD
    batch = "\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n"
    day = "2026-01-15"
    store.write_bytes(layout.incoming_batch_key(uc, day), batch.encode())
    result = validation.validate_batch(store, uc, day)

    assert result["quarantined"] >= 1
    page = store.read_text(result["report_key"])
    assert "<script" not in page.lower(), "a data value reached the report unescaped"
    assert "&lt;script&gt;" in page  # shown, as text
    # The quarantine keeps the raw value as data (for the data engineer), never as markup.
    rows_key = next(k for k in store.list(f"quarantine/{uc.name}/date={day}/") if k.endswith("rows.parquet"))
    assert PAYLOAD in store.read_frame(rows_key)["contract"].tolist()
