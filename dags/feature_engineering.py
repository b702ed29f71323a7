"""
### Feature engineering — owned by the data analyst

One run per partition of `raw/<use case>`: each day that data acquisition announces gets exactly one run,
keyed by that day (a partitioned asset schedule, so ten days loaded in a burst give ten runs, none twice).
**build** cleans the day's accepted rows (types, categories as configured in the use-case YAML) into the
features partition that training and batch scoring read, and announces it on `features/<use case>`.
**reconcile** is the safety net: a day whose accepted rows waited over an hour without features (a lost
hand-off) is built and announced under its own key.

The scikit-learn preprocessing itself (imputation, scaling, one-hot) is fitted at training time on training
rows only and saved inside the model, so scoring sees exactly what training saw.
Trigger by hand with a *partition key* (a day) to rebuild one partition.
"""

from __future__ import annotations

from airflow.sdk import IdentityMapper, PartitionedAssetTimetable, dag, task

from lifecycle_ops import factory
from lifecycle_ops.tasks import features as t


def build(uc):
    name = uc.name
    features = factory.features_asset(uc)

    @dag(
        dag_id=factory.dag_id(uc, "feature_engineering"),
        schedule=PartitionedAssetTimetable(assets=factory.raw_asset(uc), default_partition_mapper=IdentityMapper()),
        catchup=False,
        max_active_runs=4,
        default_args=factory.default_args("data-analyst"),
        tags=factory.tags(uc, "features"),
        doc_md=factory.doc(__doc__, uc),
    )
    def feature_engineering():
        @task(outlets=[features])
        def build_features(**context) -> dict:
            return t.build(context, name)

        @task(outlets=[features], trigger_rule="all_done")
        def reconcile(**context) -> list:
            return t.reconcile(context, name, features)

        build_features() >> reconcile()

    return feature_engineering()


for _uc in factory.use_cases():
    build(_uc)
