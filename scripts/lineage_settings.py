"""OpenLineage settings of the platform: by default every event is a JSON file under the Airflow home.

``Platform.env()`` (and so production mode, which builds on it) adds these ``[openlineage]`` settings. The
shell that starts the platform may send events elsewhere instead:

* ``LIFECYCLE_OPENLINEAGE_URL`` — an HTTP receiver (Marquez, our own endpoint), posted to
  ``LIFECYCLE_OPENLINEAGE_ENDPOINT`` (default ``api/v1/lineage``);
* ``LIFECYCLE_OPENLINEAGE_TRANSPORT`` — any OpenLineage transport as JSON, e.g. with an API key
  (``{"type": "http", "url": ..., "auth": {"type": "api_key", "apiKey": ...}}``);
* ``LIFECYCLE_OPENLINEAGE_NAMESPACE`` — the job namespace (default ``lifecycle``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

EVENTS_DIR = "openlineage"


def events_dir(home: str | Path) -> Path:
    """Where the file transport writes: one file per event, named after the job and the event type."""
    return Path(home) / EVENTS_DIR


def openlineage_env(home: str | Path, env: Mapping[str, str]) -> dict[str, str]:
    transport = env.get("LIFECYCLE_OPENLINEAGE_TRANSPORT")
    if not transport and env.get("LIFECYCLE_OPENLINEAGE_URL"):
        transport = json.dumps({"type": "http", "url": env["LIFECYCLE_OPENLINEAGE_URL"],
                                "endpoint": env.get("LIFECYCLE_OPENLINEAGE_ENDPOINT", "api/v1/lineage")})
    if not transport:
        folder = events_dir(home)
        folder.mkdir(parents=True, exist_ok=True)  # the transport opens files, it does not make folders
        # append false: a new file per event, so task processes on several workers never share one; debug_mode
        # puts the job name and event type in the file name (no two processes pick the same name) and indents.
        transport = json.dumps({"type": "file", "log_file_path": str(folder / "ol"), "append": False,
                                "debug_mode": True})
    return {"AIRFLOW__OPENLINEAGE__TRANSPORT": transport,
            "AIRFLOW__OPENLINEAGE__NAMESPACE": env.get("LIFECYCLE_OPENLINEAGE_NAMESPACE", "lifecycle")}
