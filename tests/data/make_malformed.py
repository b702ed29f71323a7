"""Regenerate the malformed batch fixtures in this folder from the bundled real data.

Each file is a small (<= 30 rows) slice of the real snapshot with one realistic defect, so a test
failure points at one validation rule. Run from the project root:

    PYTHONPATH=. .venv/bin/python tests/data/make_malformed.py
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def main() -> None:
    churn = pd.read_csv(ROOT / "include/data/wa_churn.csv.gz", dtype={"customer_id": str})
    features = [c for c in churn.columns if c != "churn"]
    base = churn.loc[:29, features].copy()  # 30 real rows, ids C00001..C00030
    out: dict[str, bytes] = {}

    out["churn_clean.csv"] = _csv(base)
    out["churn_missing_column.csv"] = _csv(base.drop(columns=["contract"]))
    out["churn_extra_column.csv"] = _csv(churn.loc[:29, [*features, "churn"]])  # the target leaked in

    wrong = base.copy()
    wrong["monthly_charges"] = wrong["monthly_charges"].map(lambda v: f"${v:,.2f}")  # currency-formatted text
    out["churn_wrong_type.csv"] = _csv(wrong)

    unparseable = base.astype(object).copy()
    unparseable.loc[[3, 17], "tenure"] = ["twelve", "34 months"]
    out["churn_unparseable_values.csv"] = _csv(unparseable)

    out["churn_empty.csv"] = b""
    out["churn_header_only.csv"] = (",".join(features) + "\n").encode()

    dup = base.copy()
    dup.loc[[10, 20], "customer_id"] = ["C00001", "C00002"]  # two rows reuse earlier ids
    out["churn_duplicate_ids.csv"] = _csv(dup)

    all_null = base.copy()
    all_null["total_charges"] = None
    out["churn_all_null_column.csv"] = _csv(all_null)

    rng = base.copy()
    rng.loc[[4, 9], "tenure"] = [-3, 999]
    rng.loc[15, "monthly_charges"] = 1200.0
    out["churn_out_of_range.csv"] = _csv(rng)

    cat = base.copy()
    cat.loc[[2, 12], "contract"] = ["Three year", "month-to-month"]
    out["churn_unknown_category.csv"] = _csv(cat)

    nulls = base.copy()
    nulls.loc[[6, 7], "internet_service"] = None  # not nullable: row-level
    out["churn_null_not_allowed.csv"] = _csv(nulls)

    text = _csv(base)
    out["churn_truncated.csv"] = text[: text.rfind(b"\n", 0, len(text) - 1) + 40]  # cut inside the last record

    lines = text.split(b"\n")
    lines[8] = lines[8].rsplit(b",", 3)[0]  # one record lost its last three fields mid-file
    out["churn_short_row.csv"] = b"\n".join(lines)

    gz = gzip.compress(text, mtime=0)
    out["churn_corrupt.csv.gz"] = gz[: len(gz) // 2]  # transfer cut half-way

    latin = base.copy()
    latin.loc[5, "payment_method"] = "Mailed chèque"
    out["churn_non_utf8.csv"] = latin.to_csv(index=False, lineterminator="\n").encode("latin-1")

    credit = pd.read_csv(ROOT / "include/data/credit_data.csv.gz", dtype={"application_id": str})
    cfeat = [c for c in credit.columns if c != "Status"]
    cbase = credit.loc[:29, cfeat].copy()
    out["credit_clean.csv"] = _csv(cbase)
    high_null = cbase.copy()
    high_null.loc[:14, "Income"] = None  # half the batch without income: a feed problem, not real missingness
    out["credit_null_rate.csv"] = _csv(high_null)

    for name, data in out.items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
