"""The claims a power study asks the posterior to support, and their posterior probability.

A claim is one or more statements joined by ``and``, each ``<EFFECT> <op> 0 in <stage>``
with ``EFFECT`` one of ``TE``, ``NDE``, ``NIE`` and ``op`` ``<`` or ``>`` (for example
``"NIE < 0 in recovery"``), or ``"paradox"``: the spec's ``[paradox]`` table, ``TE > 0 in
<raises_in> and TE < 0 in <lowers_in>``. Its posterior probability is the share of the
posterior draws in which every statement holds (jointly, as the report's paradox table
computes it); the claim is supported when that probability reaches the study's threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from carepaths.exceptions import CarepathsError
from carepaths.spec import Spec

__all__ = ["CLAIM_EFFECTS", "Claim", "parse_claim"]

#: The effects a claim may name (the per-stage effects of ``fit.effects()``).
CLAIM_EFFECTS = ("TE", "NDE", "NIE")
_STATEMENT = re.compile(r"^\s*(?P<effect>[A-Za-z]+)\s*(?P<op>[<>])\s*0\s+in\s+(?P<stage>\S.*?)\s*$")
_FORM = ("'paradox', or statements '<EFFECT> <op> 0 in <stage>' joined by 'and' (EFFECT one of "
         f"{', '.join(CLAIM_EFFECTS)}; op < or >), e.g. 'NIE < 0 in recovery'")


@dataclass(frozen=True)
class Claim:
    """A parsed claim: its text and its statements ``(effect, sign, stage)``, sign +1 or -1."""

    text: str
    statements: tuple[tuple[str, int, str], ...]

    def probability(self, effect_draws: Any) -> float:
        """The posterior probability that every statement holds, from ``fit.effects().draws``."""
        holds = None
        for effect, sign, stage in self.statements:
            values = np.asarray(effect_draws[effect].sel(stage=stage).values).ravel()
            now = sign * values > 0
            holds = now if holds is None else holds & now
        assert holds is not None
        return float(holds.mean())


def parse_claim(text: object, spec: Spec) -> Claim:
    """Parse a claim against a spec, or refuse it saying what a claim looks like.

    Parameters
    ----------
    text : str
        ``"paradox"`` or ``"<EFFECT> <op> 0 in <stage>"`` statements joined by ``and``.
    spec : Spec
        The spec whose stages (and ``[paradox]`` table) the claim names.

    Returns
    -------
    Claim
    """
    if not isinstance(text, str) or not text.strip():
        raise CarepathsError(f"a power study needs a claim: {_FORM}.")
    stages = list(spec.stage_levels)
    if text.strip().lower() == "paradox":
        paradox = getattr(spec, "paradox", None)
        if paradox is None:
            raise CarepathsError(f"claim 'paradox': spec '{spec.name}' has no [paradox] table; add one (raises_in, "
                                 "lowers_in) or state the claim, e.g. 'TE > 0 in crisis and TE < 0 in recovery'.")
        return Claim("paradox", (("TE", 1, paradox.raises_in), ("TE", -1, paradox.lowers_in)))
    statements = []
    for part in re.split(r"\s+and\s+", text.strip()):
        found = _STATEMENT.match(part)
        if found is None:
            raise CarepathsError(f"unknown claim {text!r}: expected {_FORM}.")
        effect, stage = found["effect"].upper(), found["stage"]
        if effect not in CLAIM_EFFECTS:
            raise CarepathsError(f"claim {text!r}: unknown effect {found['effect']!r}; expected one of "
                                 f"{', '.join(CLAIM_EFFECTS)}.")
        if stage not in stages:
            raise CarepathsError(f"claim {text!r}: unknown stage {stage!r}; the spec's stages are "
                                 f"{', '.join(stages)}.")
        statements.append((effect, 1 if found["op"] == ">" else -1, stage))
    return Claim(text.strip(), tuple(statements))
