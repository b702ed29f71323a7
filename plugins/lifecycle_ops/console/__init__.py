"""The MLOps console: a FastAPI app (HTML pages + a JSON API) mounted in Airflow's API server.

Import-free on purpose: ``lifecycle_plugin`` builds the app with :func:`lifecycle_ops.console.app.create_app`,
and pandas, scikit-learn and plotly are imported only inside request handlers.
"""
