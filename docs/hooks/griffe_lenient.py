"""Griffe extension (mkdocs.yml, mkdocstrings `extensions:`): lenient docstring parsing for
`patchswap.integrations`, whose docstrings document several parameters on one line ("grid,
temperature, ...: as `PatchSwapObjective`"), which griffe's Google parser would warn about and
`mkdocs build --strict` would then refuse. Everywhere else every parameter has its own line
and griffe's warnings stay on."""

from __future__ import annotations

from typing import Any

import griffe

LENIENT_PACKAGES = ("patchswap.integrations",)
LENIENT = {"warn_unknown_params": False, "warn_missing_types": False}


class LenientDocstrings(griffe.Extension):
    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None and obj.path.startswith(LENIENT_PACKAGES):
            obj.docstring.parser_options = {**obj.docstring.parser_options, **LENIENT}
