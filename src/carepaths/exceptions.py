"""The error and warning hierarchy of carepaths.

Every error the library raises on purpose derives from :class:`CarepathsError`, so a
notebook can catch all of them with one ``except``; each subclass names the stage of
the pipeline that refused the input.
"""

from __future__ import annotations

__all__ = [
    "CarepathsError",
    "SpecError",
    "DataError",
    "SimulationError",
    "IdentificationError",
    "CarepathsWarning",
    "DroppedRowsWarning",
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
