"""The SME gate's decisions as plain functions: may an answer stand, and may an approved version move to champion.

The Airflow operator (``plugins/lifecycle_ops/approval.py``) waits for the answer and does the I/O; what it
decides lives here, with no Airflow import, so it is unit-tested (and mutation-tested) on plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

APPROVE = "Approve"  # the option label of Airflow's ApprovalOperator
COMMENT_MIN_LENGTH = 2  # shortest comment (after trimming) an Approve may carry
SHADOW_HASH = "shadow_comparison_sha256"  # the live (shadow) comparison the SME saw, bound beside the registry's hashes


def approval_refusal(chosen: str, actor: str, comment: str, assigned: list[str], *, approve: str = APPROVE,
                     min_length: int = COMMENT_MIN_LENGTH) -> str:
    """Why an Approve cannot stand ('' when it can). A Reject is never refused: it is the safe answer."""
    if chosen != approve:
        return ""
    if actor not in assigned:
        return f"{actor} is not an assigned SME (assigned: {', '.join(assigned) or 'nobody'})"
    if len(comment) < min_length:
        return ("an approval must carry a comment" if not comment else
                f"the comment {comment!r} is shorter than {min_length} characters")
    return ""


def move_kind(decision: Mapping[str, Any]) -> str:
    """The ledger event an approved decision leads to: ``rolled_back`` for a rollback, else ``promoted``."""
    return "rolled_back" if decision.get("action") == "rollback" else "promoted"


def expected_champion(decision: Mapping[str, Any], current: int | None) -> int | None:
    """The champion the decision was made against; a decision that did not record one accepts ``current``."""
    expected = decision.get("expected_champion", current)
    return current if expected == "unknown" else expected


def changed_evidence(approved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Names of the approved hashes the stored evidence no longer matches (sorted)."""
    return sorted(k for k in approved if current.get(k) != approved.get(k))


def promotion_refusal(approved: Mapping[str, Any], current: Mapping[str, Any], champion_now: int | None,
                      expected: int | None, kind: str) -> str:
    """Why an approved version must not move to champion ('' when it may): changed evidence, or a moved champion."""
    changed = changed_evidence(approved, current)
    if changed:
        why = f"evidence changed after approval: {', '.join(changed)}"
        if SHADOW_HASH in changed:
            why += ("; the shadow result (the live comparison of challenger and champion the SME saw) was rewritten "
                    "after the request, so its verdict and intervals may not be the ones approved: request again")
        return why
    if expected != champion_now:
        judged = f"v{expected}" if expected else "no champion"
        return (f"the champion is v{champion_now} now, but this decision was made against {judged} (it moved after "
                f"the {'evaluation' if kind == 'promoted' else 'request'}); retrain or request again to decide on "
                "the current champion")
    return ""
