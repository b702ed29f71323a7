"""The MLOps console inside Airflow's UI: a FastAPI app, its entries in the navigation and task pages, and
extra links on every lifecycle task.

Loaded by every Airflow component: building the app imports FastAPI only (pandas, scikit-learn and plotly are
imported inside request handlers). The app is served by the API server, which reads plugins at its start.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from lifecycle_ops.console.app import URL_PREFIX, create_app
from lifecycle_ops.links import CONSOLE_LINKS


class LifecyclePlugin(AirflowPlugin):
    name = "lifecycle_console"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "MLOps console"}]
    external_views = [
        {"name": "MLOps console", "href": f"{URL_PREFIX}/", "url_route": "mlops-console", "destination": "nav",
         "category": "browse"},
        {"name": "MLOps console", "href": f"{URL_PREFIX}/dag/{{DAG_ID}}", "url_route": "mlops-console-dag",
         "destination": "dag"},
        {"name": "MLOps console", "href": f"{URL_PREFIX}/run/{{DAG_ID}}/{{RUN_ID}}", "url_route": "mlops-console-run",
         "destination": "dag_run"},
        {"name": "MLOps console", "href": f"{URL_PREFIX}/task/{{DAG_ID}}/{{RUN_ID}}/{{TASK_ID}}",
         "url_route": "mlops-console-task", "destination": "task_instance"},
    ]
    global_operator_extra_links = CONSOLE_LINKS
