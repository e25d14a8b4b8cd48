"""Is a run in balance? The end-state weighted ratio of style to content, and advice when not.

``weighted_ratio = beta * L_style / (alpha * L_content)``: how the two terms compare as they
enter the total loss. The anchor is the PyTorch NST tutorial's published 300-step run, which
ends with weighted style 0.264 against content 2.358 (ratio 0.11): a good run ends with both
terms alive and neither dwarfing the other. ``benchmarks/calibrate.py`` sweeps ``style_weight``
and prints this ratio, each style layer's share and the style/content distances.

``balance_advice`` names the knob and the direction when a run ends off balance: when its final
ratio is more than ``BALANCE_FACTOR`` away from 1 in either direction, or when its style term is
still above ``STALLED_STYLE`` of where it started (checked before "style-dominated": a run from
the photo that has hardly moved has a content term near zero, so its ratio is high for the
wrong reason).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

BALANCE_FACTOR = 30.0
"""How far (either way) the final weighted ratio may be from 1 before ``balance_advice``
speaks; see the README's calibration table for where the default run ends."""
STALLED_STYLE = 0.5
"""A run whose style term ends above this fraction of where it started has hardly moved towards
the painting (README calibration, 300 steps: beta 10 ends at 2-5% of the start, beta 0.1 at
54-65%)."""
TUTORIAL_RATIO = 0.264 / 2.358
"""The anchor: the PyTorch NST tutorial's published 300-step run ends with weighted style 0.264
against weighted content 2.358."""


def weighted_ratio(record: Mapping[str, float], settings: Mapping[str, Any]) -> float:
    """``beta * style / (alpha * content)`` of one history record (``inf`` if content is 0)."""
    style = settings["style_weight"] * record["style"]
    content = settings["content_weight"] * record["content"]
    if content <= 0:
        return math.inf if style > 0 else math.nan
    return style / content


def choose_style_weight(
    rows: Mapping[int, Sequence[Mapping[str, float]]],
    *,
    anchor: float = TUTORIAL_RATIO,
    tolerance: float = 2.0,
) -> float:
    """The calibration rule (``benchmarks/calibrate.py``): from a sweep ``{size: [{"beta",
    "ratio", "d_style"}, ...]}``, the beta whose end-state ratio is nearest the ``anchor`` (in
    log terms, at the worst size), among those whose style distance is within ``tolerance`` of
    the sweep's best at every size (so the choice is past the knee of the style curve)."""
    betas = sorted({r["beta"] for runs in rows.values() for r in runs})

    def at(runs: Sequence[Mapping[str, float]], beta: float) -> Mapping[str, float]:
        return next(r for r in runs if r["beta"] == beta)

    styled = [
        b
        for b in betas
        if all(
            at(runs, b)["d_style"] <= tolerance * min(r["d_style"] for r in runs)
            for runs in rows.values()
        )
    ]
    return min(
        styled,
        key=lambda b: max(abs(math.log(at(runs, b)["ratio"] / anchor)) for runs in rows.values()),
    )


def layer_shares(record: Mapping[str, float]) -> dict[str, float]:
    """Each style layer's fraction of the style term: ``{layer: share}`` (sums to 1)."""
    terms = {k.removeprefix("style/"): v for k, v in record.items() if k.startswith("style/")}
    total = sum(terms.values())
    return {k: (v / total if total > 0 else math.nan) for k, v in terms.items()}


def balance_advice(
    history: Sequence[Mapping[str, float]], settings: Mapping[str, Any], *, cli: bool = False
) -> str | None:
    """One line saying which knob to turn which way, or ``None`` when the run ended in balance.

    ``history`` and ``settings`` are a ``StylizeResult``'s; ``cli`` spells the knobs as flags.
    """
    if len(history) < 2 or settings.get("style_weight", 0) == 0:
        return None
    first, last = history[0], history[-1]
    ratio = weighted_ratio(last, settings)
    style_knob = "--style-weight" if cli else "style_weight"
    if ratio < 1 / BALANCE_FACTOR:
        return (
            f"content-dominated (weighted style/content {ratio:.3g} < 1/{BALANCE_FACTOR:g}): "
            f"little style; raise {style_knob} (e.g. x10)"
        )
    if first["style"] > 0 and last["style"] > STALLED_STYLE * first["style"]:
        # Before the style-dominated test: from the photo, a run that has hardly moved has a
        # content term near 0, so its ratio is high although style is what is missing.
        return (
            f"the style term only fell to {last['style'] / first['style']:.0%} of its start: "
            f"run more steps, or raise {style_knob} if it stays there"
        )
    if ratio > BALANCE_FACTOR:
        return (
            f"style-dominated (weighted style/content {ratio:.3g} > {BALANCE_FACTOR:g}): the "
            f"photo may be lost; lower {style_knob} (e.g. /10)"
        )
    return None
