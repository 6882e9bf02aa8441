"""User-facing errors: one clear line naming the bad value and the fix.

The CLI prints these without a traceback; everything else is a bug and keeps its traceback.
"""


class PatchswapError(ValueError):
    """Bad input from a user (config, names, paths, shapes)."""


class ConfigError(PatchswapError):
    """A recipe key or value that does not exist or is out of range."""


class DataError(PatchswapError):
    """Dataset files missing or malformed."""


class CheckpointError(PatchswapError):
    """A checkpoint that cannot be loaded into this run."""


def unknown_name(kind: str, name: str, valid: list[str]) -> PatchswapError:
    """Error for a name that is not registered, listing the valid ones."""
    return PatchswapError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}")
