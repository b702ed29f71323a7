"""Airflow-facing extensions of the ML lifecycle (alert notifier, SME approval gate, ...).

Kept import-free so that loading the plugins folder stays cheap for the dag processor; import the submodule you
need, e.g. ``from lifecycle_ops.alerting import notify, on_failure_notifier``.
"""

from __future__ import annotations
