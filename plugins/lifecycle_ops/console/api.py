"""The API for software engineers: ``/lifecycle/api/v1`` (OpenAPI at ``/lifecycle/docs``).

Read the registry (versions, champion, champion-at, ledger, model card) and score JSON rows with the champion
or a pinned version, exactly as batch scoring would. Every route needs an Airflow user who may read the use
case's DAGs (Bearer token from ``POST /auth/token``, or the UI's cookie).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from lifecycle_ops.console import views
from lifecycle_ops.console.deps import get_predictor, get_store, readable_use_cases, use_case_dep

router = APIRouter(prefix="/api/v1", tags=["lifecycle"])


class PredictRequest(BaseModel):
    rows: list[dict[str, Any]] = Field(..., description="rows keyed by column name, the id column included",
                                       examples=[[{"customer_id": "7590-VHVEG", "tenure": 1}]])
    version: int | None = Field(None, description="a registered version to pin; default: the champion")


class Prediction(BaseModel):
    id: str
    score: float
    label: Any


class PredictResponse(BaseModel):
    use_case: str
    model: str
    model_version: int
    model_sha256: str
    threshold: float
    predictions: list[Prediction]


def _or_404(value: Any, what: str) -> Any:
    if value is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}")
    return value


@router.get("/use-cases", summary="The use cases you may read")
def list_use_cases(names: list[str] = Depends(readable_use_cases)) -> list[str]:
    return names


@router.get("/use-cases/{uc}/versions", summary="Every registered version, newest first")
def list_versions(uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)) -> list[dict[str, Any]]:
    return views.versions(store, uc)


@router.get("/use-cases/{uc}/versions/{number}", summary="One version: metrics, CI, blessing, QA, lineage")
def get_version(number: int, uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)) -> dict[str, Any]:
    return _or_404(views.version(store, uc, number), f"version {number}")


@router.get("/use-cases/{uc}/versions/{number}/model-card", summary="The model card (markdown)",
            response_class=PlainTextResponse)
def get_model_card(number: int, uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)) -> str:
    return _or_404(views.model_card_markdown(store, uc, number), f"model card for version {number}")


@router.get("/use-cases/{uc}/versions/{number}/shadow",
            summary="Its live (shadow) comparisons with the champion, per day, beside the holdout one")
def get_shadow(number: int, uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)) -> dict[str, Any]:
    return _or_404(views.shadow(store, uc, number), f"shadow comparison of version {number}")


@router.get("/use-cases/{uc}/champion", summary="The champion (and challenger) aliases")
def get_champion(uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)) -> dict[str, Any]:
    return views.champion(store, uc)


@router.get("/use-cases/{uc}/champion-at", summary="Which version was champion at a time (from the ledger)")
def get_champion_at(at: datetime = Query(..., description="ISO-8601, e.g. 2026-01-05T00:00:00Z"),
                    uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)) -> dict[str, Any]:
    from include.lifecycle.model.registry import parse_time

    return views.champion_at(store, uc, parse_time(at))


@router.get("/use-cases/{uc}/ledger", summary="The append-only ledger, oldest first")
def get_ledger(uc: Any = Depends(use_case_dep), store: Any = Depends(get_store)) -> list[dict[str, Any]]:
    return views.ledger(store, uc)


@router.post("/use-cases/{uc}/predict", response_model=PredictResponse,
             summary="Score rows with the champion (or a pinned version), as batch scoring does",
             responses={422: {"description": "a field breaks the use case's column contract (each is named)"},
                        404: {"description": "no champion yet, or no such version"},
                        415: {"description": "the body is not application/json"}})
def predict(body: PredictRequest, request: Request, uc: Any = Depends(use_case_dep),
            predictor: Any = Depends(get_predictor)) -> Any:
    from include.lifecycle.serve.predict import NoModelError, PredictError

    # JSON only: a cross-site HTML form cannot send it without a CORS preflight, so a cookie alone cannot score
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send application/json")
    try:
        return predictor.predict(uc, body.rows, version=body.version)
    except PredictError as exc:
        detail = [{"type": "contract", "loc": ["body", *p["loc"]], "msg": p["msg"]} for p in exc.problems]
        return JSONResponse(status_code=422, content={"detail": detail})
    except NoModelError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
