# Production image: the official Airflow image at the pinned version, plus our locked requirements and code.
# Build: docker build -t airflow-mlops-lifecycle:latest .   (see deploy/docker-compose.yaml for the services)
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

USER airflow
COPY --chown=airflow:root requirements.lock /opt/lifecycle/requirements.lock
RUN pip install --no-cache-dir -r /opt/lifecycle/requirements.lock

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root airflow_settings.yaml scripts/ /opt/airflow/project/

# The project root must be importable so that `include.lifecycle` resolves (the Astro image does the same).
ENV PYTHONPATH=/opt/airflow:/opt/airflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins
