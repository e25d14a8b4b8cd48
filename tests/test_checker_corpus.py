"""Every checker against a corpus of answers: published NST code and learners' mistakes.

A checker must pass exactly the answers that match its reference on every probe, and the
first line of its feedback must name the real cause (``tests/checker_corpus``).
"""

from __future__ import annotations

import pytest
import torch
from checker_corpus import all_cases  # tests/ is on sys.path (pytest's rootdir-less modules)

from nst_helpers.course import checks

CASES = all_cases()


def test_the_corpus_is_large_and_covers_every_code_checker():
    assert len(CASES) >= 60
    checkers = {
        name for name in dir(checks) if name.startswith("check_") and name != "check_answer"
    }
    assert {case.checker for case in CASES} == checkers
    assert sum(not case.ok for case in CASES) > 2 * sum(case.ok for case in CASES)
    ids = [f"{case.checker}-{case.origin}" for case in CASES]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[f"{case.checker[6:]}-{case.origin}" for case in CASES])
def test_checker_verdict_and_first_line(case, capsys):
    torch.manual_seed(0)  # answers that draw random numbers draw the same ones every run
    ok = getattr(checks, case.checker)(case.fn)
    out = capsys.readouterr().out
    first = out.splitlines()[0] if out else ""
    assert ok is case.ok, out
    assert first.startswith("✅" if case.ok else "❌"), out
    assert case.first in first, out
