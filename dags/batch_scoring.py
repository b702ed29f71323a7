"""
### Batch scoring — owned by the software engineer

Two DAGs per use case:

* **`<use case>__batch_scoring`**: one run per partition of `features/<use case>` (a partitioned asset
  schedule, so each day is scored once). The champion is resolved once at run start and recorded, so a
  partition is never scored by two models even if a promotion lands mid-run; the model is loaded only from
  the registry, checksum-verified. Scoring streams the partition in chunks (bounded memory) and writes one
  predictions file per day with `id, score, predicted_label, model_version, scored_at`; a rerun overwrites it.
  Then **shadow_score**: a registered, blessed challenger scores the same partition into its own
  `shadow/<use case>/v<version>/` keys (rows marked `shadow`, never served, never monitored) and is compared
  with the champion on the live rows whose labels have matured (paired bootstrap, per slice); a challenger
  that loses is alerted. Skipped when there is no such challenger.
* **`<use case>__scoring_catchup`**: when the champion changes (`model/<use case>@champion`), scores every
  features partition no model has scored yet (the days that arrived before the first champion), one mapped
  task per day so a backlog uses every worker; each scored day is announced under its own partition key.
"""

from __future__ import annotations

from airflow.sdk import IdentityMapper, PartitionedAssetTimetable, dag, task

from lifecycle_ops import factory
from lifecycle_ops.tasks import scoring as t


def build(uc):
    name = uc.name
    predictions = factory.predictions_asset(uc)

    @dag(
        dag_id=factory.dag_id(uc, "batch_scoring"),
        schedule=PartitionedAssetTimetable(assets=factory.features_asset(uc),
                                           default_partition_mapper=IdentityMapper()),
        catchup=False,
        max_active_runs=4,
        default_args=factory.default_args("software-engineer"),
        tags=factory.tags(uc, "scoring"),
        doc_md=factory.doc(__doc__, uc),
    )
    def batch_scoring():
        @task
        def resolve_champion(**context) -> dict:
            return t.resolve_champion(context, name)

        @task(outlets=[predictions], pool=factory.scoring_pool(uc))
        def score(champion: dict, **context) -> dict:
            return t.score_day(context, name, champion, asset=predictions)

        @task(pool=factory.scoring_pool(uc))
        def shadow_score(champion: dict, **context) -> dict:
            return t.shadow_score_day(context, name, champion)

        champion = resolve_champion()
        score(champion) >> shadow_score(champion)  # after serving: the shadow never delays the champion's scores

    @dag(
        dag_id=factory.dag_id(uc, "scoring_catchup"),
        schedule=[factory.champion_asset(uc)],
        catchup=False,
        max_active_runs=1,
        default_args=factory.default_args("software-engineer"),
        tags=factory.tags(uc, "scoring"),
        doc_md=factory.doc(__doc__, uc),
    )
    def scoring_catchup():
        @task
        def resolve_champion(**context) -> dict:
            return t.resolve_champion(context, name)

        @task
        def unscored(champion: dict, **context) -> list:
            return t.unscored_days(context, name, champion)

        @task(outlets=[predictions], pool=factory.scoring_pool(uc), map_index_template="{{ day }}")
        def score(day: str, champion: dict, **context) -> dict:
            context["day"] = day
            return t.score_day(context, name, champion, day=day, asset=predictions)

        champion = resolve_champion()
        score.partial(champion=champion).expand(day=unscored(champion))

    return batch_scoring(), scoring_catchup()


for _uc in factory.use_cases():
    build(_uc)
