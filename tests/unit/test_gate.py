"""The SME gate's decisions: which answers stand, and when an approved version may not become champion."""

from __future__ import annotations

import pytest

from include.lifecycle.model.gate import (
    APPROVE,
    COMMENT_MIN_LENGTH,
    approval_refusal,
    changed_evidence,
    expected_champion,
    move_kind,
    promotion_refusal,
)

SMES = ["sme_alice", "sme_bob"]
HASHES = {"model_sha256": "m1", "evaluation_sha256": "e1", "qa_sha256": "q1", "lineage_sha256": "l1"}


def test_an_assigned_sme_approving_with_a_comment_stands() -> None:
    assert approval_refusal(APPROVE, "sme_bob", "recall is what we need", SMES) == ""


def test_a_reject_always_stands_even_from_a_stranger_without_comment() -> None:
    assert approval_refusal("Reject", "mallory", "", SMES) == ""


def test_an_approve_from_someone_not_assigned_is_refused_and_names_the_assigned() -> None:
    why = approval_refusal(APPROVE, "mallory", "looks fine", SMES)
    assert why == "mallory is not an assigned SME (assigned: sme_alice, sme_bob)"


def test_an_approve_when_nobody_is_assigned_says_nobody() -> None:
    assert approval_refusal(APPROVE, "sme_alice", "fine", []) == "sme_alice is not an assigned SME (assigned: nobody)"


def test_an_approve_without_comment_is_refused() -> None:
    assert approval_refusal(APPROVE, "sme_alice", "", SMES) == "an approval must carry a comment"


def test_the_comment_length_boundary() -> None:
    # exactly the minimum stands; one character less is refused with the comment quoted
    assert COMMENT_MIN_LENGTH == 2
    assert approval_refusal(APPROVE, "sme_alice", "ok", SMES) == ""
    assert approval_refusal(APPROVE, "sme_alice", "k", SMES) == "the comment 'k' is shorter than 2 characters"
    assert approval_refusal(APPROVE, "sme_alice", "abc", SMES, min_length=4) == \
        "the comment 'abc' is shorter than 4 characters"
    assert approval_refusal(APPROVE, "sme_alice", "abcd", SMES, min_length=4) == ""


def test_the_approve_label_is_the_operators() -> None:
    assert APPROVE == "Approve"
    # another label for Approve: "Approve" is then just another (safe) option
    assert approval_refusal("Approve", "mallory", "", SMES, approve="Ship it") == ""
    assert approval_refusal("Ship it", "mallory", "x", SMES, approve="Ship it").startswith("mallory is not")


def test_the_operator_uses_the_library_decision() -> None:
    from lifecycle_ops.approval import approval_refusal as operator_refusal

    assert operator_refusal("Approve", "sme_alice", "k", SMES) == "the comment 'k' is shorter than 2 characters"
    assert operator_refusal("Approve", "mallory", "fine", SMES).startswith("mallory is not an assigned SME")
    assert operator_refusal("Reject", "mallory", "", SMES) == ""


@pytest.mark.parametrize(("action", "kind"), [("rollback", "rolled_back"), ("promote", "promoted"), (None, "promoted")])
def test_move_kind(action, kind) -> None:
    assert move_kind({"action": action} if action else {}) == kind


def test_expected_champion_recorded_unknown_or_absent() -> None:
    assert expected_champion({"expected_champion": 3}, 5) == 3
    assert expected_champion({"expected_champion": None}, 5) is None  # judged against no champion
    assert expected_champion({"expected_champion": "unknown"}, 5) == 5
    assert expected_champion({}, 5) == 5


def test_changed_evidence_lists_every_changed_hash_sorted() -> None:
    current = {**HASHES, "qa_sha256": "q2", "evaluation_sha256": "e2"}
    assert changed_evidence(HASHES, current) == ["evaluation_sha256", "qa_sha256"]
    assert changed_evidence(HASHES, HASHES) == []
    assert changed_evidence(HASHES, {k: v for k, v in HASHES.items() if k != "model_sha256"}) == ["model_sha256"]
    assert changed_evidence({}, current) == []  # nothing approved, nothing to compare


def test_promotion_stands_when_evidence_and_champion_are_unchanged() -> None:
    assert promotion_refusal(HASHES, dict(HASHES), 2, 2, "promoted") == ""
    assert promotion_refusal(HASHES, dict(HASHES), None, None, "promoted") == ""


def test_promotion_refused_on_changed_evidence_first() -> None:
    current = {**HASHES, "model_sha256": "m2"}
    # even with a moved champion, changed evidence is the reason given
    assert promotion_refusal(HASHES, current, 3, 2, "promoted") == "evidence changed after approval: model_sha256"
    current["qa_sha256"] = "q2"
    assert promotion_refusal(HASHES, current, 2, 2, "promoted") == \
        "evidence changed after approval: model_sha256, qa_sha256"


def test_a_rewritten_shadow_comparison_is_named_as_the_shadow_result() -> None:
    approved = {**HASHES, "shadow_comparison_sha256": "s1"}
    why = promotion_refusal(approved, {**approved, "shadow_comparison_sha256": "s2"}, 2, 2, "promoted")
    # the SME reads this in the task log and the alert: word for word, it says what changed and what to do
    assert why == ("evidence changed after approval: shadow_comparison_sha256; the shadow result (the live "
                   "comparison of challenger and champion the SME saw) was rewritten after the request, so its "
                   "verdict and intervals may not be the ones approved: request again")
    assert "request again" in why
    assert promotion_refusal(approved, dict(approved), 2, 2, "promoted") == ""
    assert "shadow" not in promotion_refusal(HASHES, {**HASHES, "qa_sha256": "q2"}, 2, 2, "promoted")


def test_promotion_refused_when_the_champion_moved() -> None:
    why = promotion_refusal(HASHES, dict(HASHES), 3, 2, "promoted")
    assert why == ("the champion is v3 now, but this decision was made against v2 (it moved after the evaluation); "
                   "retrain or request again to decide on the current champion")


def test_rollback_refused_when_the_champion_moved_after_the_request() -> None:
    why = promotion_refusal(HASHES, dict(HASHES), 4, None, "rolled_back")
    assert why.startswith("the champion is v4 now, but this decision was made against no champion (it moved after "
                          "the request)")
