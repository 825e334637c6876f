"""The one base of the workbench's result objects.

Analyses return frozen dataclasses with a tidy main ``table``, plain-language
``notes``, a ``provenance`` mapping (the method, the reference it agrees with, the
options used) and ``summary()`` as text. This base gives them one way to show
themselves in JupyterLab, so every result reads alike.
"""

from __future__ import annotations

import html

import pandas as pd


class Result:
    """Mixin for result dataclasses. It defines no attributes of its own: a class default
    here would become a default of every subclass's fields."""

    def summary(self) -> str:  # pragma: no cover - every result defines its own
        raise NotImplementedError

    def _repr_html_(self) -> str:
        head = html.escape(self.summary()).replace("\n", "<br>")
        table = getattr(self, "table", None)
        body = (table.to_html(index=False, float_format=lambda v: f"{v:.4g}")
                if isinstance(table, pd.DataFrame) and not table.empty else "")
        return f"<p>{head}</p>{body}"
