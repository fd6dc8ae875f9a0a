"""How error messages show names, values and rows (shared by the data checks).

Long text is cut (:func:`carepaths.files.shorten`), numpy scalars read as the Python
values they hold, and lists of values or rows name the first few and say how many.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from carepaths.files import shorten

__all__ = ["MAX_ROWS_SHOWN", "MAX_VALUES_SHOWN", "plain", "quote", "show_rows", "show_values"]

#: Rows a message names before "and N more".
MAX_ROWS_SHOWN = 5
#: Values a message lists before "... (N in all)".
MAX_VALUES_SHOWN = 12


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so messages read ``1``, not ``np.int64(1)``."""
    return value.item() if isinstance(value, np.generic) else value


def quote(value: Any) -> str:
    """A name or value as a message shows it: ``repr``, long text cut (:func:`files.shorten`)."""
    value = plain(value)
    if isinstance(value, str):
        return shorten(value)
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:116]} ... ({len(text):,} characters)"


def show_values(values: Any) -> str:
    """Distinct values for a message: ``['a', 'b', ... (40 in all)]``."""
    values = list(values)
    shown = ", ".join(quote(v) for v in values[:MAX_VALUES_SHOWN])
    more = f", ... ({len(values)} in all)" if len(values) > MAX_VALUES_SHOWN else ""
    return f"[{shown}{more}]"


def show_rows(index: pd.Index, mask: np.ndarray | pd.Series) -> str:
    """The rows of ``index`` where ``mask`` holds, by label: ``rows 3, 7 and 12 more``."""
    bad = index[np.asarray(mask, dtype=bool)]
    shown = ", ".join(quote(v) for v in bad[:MAX_ROWS_SHOWN])
    more = f" and {len(bad) - MAX_ROWS_SHOWN} more" if len(bad) > MAX_ROWS_SHOWN else ""
    return f"rows {shown}{more}"
