"""The error and warning hierarchy of carepaths.

Every error the library raises on purpose derives from :class:`CarepathsError`, so a
notebook can catch all of them with one ``except``; each subclass names the stage of
the pipeline that refused the input.
"""

from __future__ import annotations

import difflib

__all__ = [
    "CarepathsError",
    "SpecError",
    "DataError",
    "SimulationError",
    "IdentificationError",
    "CarepathsWarning",
    "DroppedRowsWarning",
    "ConvergenceWarning",
    "ParetoKWarning",
    "SlowCompileWarning",
    "UnstableRatioWarning",
    "suggest_closest",
]


class CarepathsError(Exception):
    """Base class of every error raised by carepaths."""


class SpecError(CarepathsError, ValueError):
    """The model spec is invalid: the message names the key, what was expected and the fix."""


class DataError(CarepathsError, ValueError):
    """The data do not fit the spec: the message names the column, the rows and the fix."""


class SimulationError(CarepathsError, ValueError):
    """The simulator was asked for something it cannot draw (bad parameter name or shape)."""


class IdentificationError(CarepathsError):
    """The causal graph does not identify the effect asked for.

    The message names the effect, the reason, the offending path and what to do (e.g. add
    a missing confounder, or report the interventional effects instead).

    Attributes
    ----------
    effect : str
        The effect key, e.g. ``"NIE"`` or ``"IIE[discouragement]"``.
    reason : str
        Why the graph does not identify it.
    path : str
        The offending path, e.g. ``"discouragement <- U[discouragement,care_use] -> care_use"``.
    """

    def __init__(self, message: str, *, effect: str = "", reason: str = "", path: str = "") -> None:
        super().__init__(message)
        self.effect = effect
        self.reason = reason
        self.path = path


class CarepathsWarning(UserWarning):
    """Base class of every warning issued by carepaths."""


class DroppedRowsWarning(CarepathsWarning):
    """Rows were dropped on explicit request (``dropna=True``); the message says which."""


class ConvergenceWarning(CarepathsWarning):
    """The sampler did not converge: every number from this fit is unreliable."""


class ParetoKWarning(CarepathsWarning):
    """PSIS-LOO is unreliable for some rows: their Pareto k exceeds 0.7."""


class UnstableRatioWarning(CarepathsWarning):
    """A ratio of effects (a proportion mediated) divides by a total effect whose interval includes 0."""


class SlowCompileWarning(CarepathsWarning):
    """The installed nutpie cannot take carepaths' fast compile path: every fit compiles slower."""


def suggest_closest(word: str, options: tuple[str, ...] | list[str]) -> str:
    """``" Did you mean 'x'?"`` for the closest of ``options`` to ``word``, or ``""``.

    A match that differs only in case wins; otherwise the closest by difflib's ratio.
    """
    for option in options:
        if option.lower() == word.lower():
            return f" Did you mean '{option}'?"
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
