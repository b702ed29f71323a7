"""
Use-case configs for the lifecycle DAG factory (no DAG of its own).

Every DAG file in this folder builds its stage for each *valid* YAML in the config folder. This file is where
an invalid one shows up in the Airflow UI: its import error names each bad file and key, while every other use
case keeps its DAGs.
"""

from __future__ import annotations

from lifecycle_ops.factory import config_errors

_errors = config_errors()
if _errors:
    from include.lifecycle.config import ConfigError

    raise ConfigError(
        "use case(s) not loaded, their DAGs are not built:\n" + "\n".join(str(e) for e in _errors.values())
    )
