"""Sample data files the tests write: a third, differently shaped use case from a dataset scikit-learn ships
(no network), as a new team would bring its CSV."""

from __future__ import annotations

from pathlib import Path


def write_tumours_csv(path: Path, missing_every: int | None = None) -> Path:
    """sklearn's breast-cancer table as a CSV with a ``case_id`` and a text ``diagnosis`` (malignant / benign);
    ``missing_every``: blank ``mean_texture`` in every n-th row (spread over the replayed days)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    frame.insert(0, "case_id", [f"T{i:05d}" for i in range(len(frame))])
    if missing_every:
        frame.loc[frame.index[::missing_every], "mean_texture"] = None
    frame.to_csv(path, index=False)
    return path
