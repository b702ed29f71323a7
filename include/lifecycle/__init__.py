"""The ML lifecycle as a plain Python library.

No Airflow imports anywhere in this package: a data scientist can call every step from a notebook,
and the DAGs in ``dags/`` only decide *when* and *on which partition* each step runs.
Heavy libraries (pandas, scikit-learn, Great Expectations, Evidently) are imported inside the
modules that need them, never here, so importing ``include.lifecycle`` stays cheap.
"""

from __future__ import annotations

PROJECT_ROOT_MARKER = "airflow_settings.yaml"
