"""The console's FastAPI app, mounted by ``lifecycle_plugin`` at ``/lifecycle`` in Airflow's API server."""

from __future__ import annotations

from typing import Any

URL_PREFIX = "/lifecycle"


def create_app() -> Any:
    from fastapi import FastAPI

    from lifecycle_ops.console import api, pages

    app = FastAPI(title="ML lifecycle console and API",
                  description="Registry, model cards, data quality, monitoring and online scoring of the lifecycle's "
                              "use cases. Authenticate with `Authorization: Bearer <token>` from `POST /auth/token` "
                              "(or the Airflow UI's session cookie).",
                  version="1")
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
