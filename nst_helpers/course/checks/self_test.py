"""The self-test questions at the end of every chapter: ``check_answer`` and ``quiz``."""

from __future__ import annotations

import math
from typing import Any


def _norm_text(value: Any) -> str:
    return str(value).strip().strip("().").strip().lower()


def _matches(answer: Any, expected: Any, tol: float | None) -> bool:
    if isinstance(expected, bool):
        if isinstance(answer, str):
            text = _norm_text(answer)
            answer = {"true": True, "yes": True, "false": False, "no": False}.get(text, text)
        return answer is expected or (isinstance(answer, int) and answer == expected)
    if isinstance(expected, int | float):
        try:
            value = float(answer.item() if hasattr(answer, "item") else answer)
        except (TypeError, ValueError):
            return False
        if tol is None:
            return math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12)
        return abs(value - expected) <= tol
    if isinstance(expected, set | frozenset):
        if isinstance(answer, str):
            answer = [part for part in answer.replace(",", " ").split() if part]
        try:
            return {_norm_text(a) for a in answer} == {_norm_text(e) for e in expected}
        except TypeError:
            return False
    if isinstance(expected, list | tuple):
        if isinstance(answer, str) or not hasattr(answer, "__len__"):
            return False
        answer = list(answer)
        return len(answer) == len(expected) and all(
            _matches(a, e, tol) for a, e in zip(answer, expected, strict=True)
        )
    return _norm_text(answer) == _norm_text(expected)


def check_answer(
    answer: Any,
    expected: Any,
    *,
    tol: float | None = None,
    hint: str | None = None,
    explanation: str | None = None,
    accept: tuple[Any, ...] = (),
) -> bool:
    """Check a self-test answer, print ✅/❌ (with ``hint`` or ``explanation``), return a bool.

    ``expected`` may be a number (``tol`` is the absolute tolerance; default: equal to 6
    significant digits), a string (case, spaces, brackets and a final dot ignored, so ``"b"``
    matches ``"(B)"``), a bool (``"yes"``/``"no"`` accepted), a ``set`` of choices that must all
    be picked (order-free), or a tuple/list compared item by item (e.g. a shape). ``accept``
    lists further answers that also count as right (e.g. spellings).
    """
    if answer is None or answer is Ellipsis:
        print("❓ No answer yet: replace the `...` with your answer and run the cell again.")
        return False
    try:
        right = any(_matches(answer, e, tol) for e in (expected, *accept))
    except Exception:  # noqa: BLE001 - a quiz must never stop a notebook
        right = False
    if right:
        print("✅ Correct!" + (f" {explanation}" if explanation else ""))
    else:
        print(f"❌ Not quite ({answer!r})." + (f" Hint: {hint}" if hint else " Try again."))
    return right


_ASK = object()  # quiz(question_id, answer): the expected answer comes from nst_helpers.quizzes


def quiz(
    question: str,
    answer: Any,
    expected: Any = _ASK,
    hint: str | None = None,
    *,
    tol: float | None = None,
    explanation: str | None = None,
    accept: tuple[Any, ...] = (),
) -> bool:
    """Check a self-check answer; print ✅/❌ with feedback; return the verdict.

    ``quiz("02-inplace-relu", answer)`` looks the question up in ``nst_helpers.quizzes`` (so the
    notebook never shows the answer): a wrong answer gets the hint and, for a wrong option of a
    multiple-choice question, what that option gets wrong; a right one gets the explanation.
    The expected answer is never printed.

    ``quiz(text, answer, expected, hint)`` (an expected value given) prints ``text`` and then
    ``check_answer(answer, expected, ...)``, for questions a lecturer adds in a notebook.
    """
    if expected is not _ASK:
        print(question)
        return check_answer(
            answer, expected, tol=tol, hint=hint, explanation=explanation, accept=accept
        )
    from ..quizzes import QUESTIONS

    q = QUESTIONS.get(question)
    if q is None:
        known = ", ".join(sorted(k for k in QUESTIONS if k[:2] == question[:2])) or "none"
        raise KeyError(f"no self-check question {question!r}; this chapter's ids: {known}")
    if answer is None or answer is Ellipsis:
        return check_answer(answer, q.expected)
    if q.choices and _norm_text(answer) not in q.choices:
        print(f"❌ Answer with one letter: {' or '.join(repr(c) for c in q.choices)}.")
        return False
    try:
        right = any(_matches(answer, e, q.tol) for e in (q.expected, *q.accept))
    except Exception:  # noqa: BLE001 - a quiz must never stop a notebook
        right = False
    if right:
        print(f"✅ Correct! {q.explanation}")
        return True
    why = q.why.get(_norm_text(answer)) if q.choices else None
    print(f"❌ Not quite ({answer!r})." + (f" {why[0].upper()}{why[1:]}" if why else ""))
    print(f"   Hint: {q.hint}")
    return False
