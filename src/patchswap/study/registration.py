"""Pre-registration as a recorded fact: which committed version of a plan its cells ran, and
when the first of them started.

A confirmatory plan must be committed, with no uncommitted change, before `patchswap study`
trains anything; its commit, the plan file's git blob hash and the commit time are written
into `<cells>/<plan>/registration.json` when the first cell starts, and onto the page. A later
invocation with a different plan file is refused, so cells never mix two versions of a plan.
A plan shipped inside an installed package (no git) is recorded by its blob hash and the
package version, which identify it in the repository's history. `kind: exploratory` plans may
run uncommitted; the record then says so.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ConfigError
from ..infra.atomic_files import atomic_write_text

FILE = "registration.json"


@dataclass
class Registration:
    blob: str  # git blob hash of the plan file as it ran (`git hash-object`)
    recorded_by: str  # git | package <version> | uncommitted | git history (after the run)
    commit: str | None = None  # the last commit that changed the plan file
    committed_at: str | None = None  # that commit's time (ISO 8601)
    first_cell_started: str | None = None  # when its first cell started (ISO 8601, UTC)

    def text(self) -> str:
        """One sentence for the page."""
        started = (
            f"first cell started {self.first_cell_started}"
            if self.first_cell_started
            else "the time its first cell started was not recorded"
        )
        if self.recorded_by == "git":
            return f"plan committed in `{self.commit[:10]}` at {self.committed_at}; {started}"
        if self.recorded_by == "git history" and self.commit is None:
            return f"registration not recorded at run time; {started}"
        if self.recorded_by == "git history":
            return (
                f"registration not recorded at run time (run before it existed); the plan file "
                f"was first committed in `{self.commit[:10]}` at {self.committed_at}; {started}"
            )
        if self.recorded_by == "uncommitted":
            return f"plan not committed when it ran, blob `{self.blob[:10]}`; {started}"
        return f"plan shipped in {self.recorded_by}, blob `{self.blob[:10]}`; {started}"


def blob_hash(path: Path) -> str:
    """The file's git blob id, computed as git does (so it is checkable without git)."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _git(path: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(path.parent), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def current(path: Path, kind: str) -> Registration:
    """The plan file's registration now; refuses an uncommitted confirmatory plan."""
    from .. import __version__
    from ..recipes import packaged_configs

    path = Path(path).resolve()
    blob = blob_hash(path)
    in_git = _git(path, "rev-parse", "--is-inside-work-tree") == "true"
    tracked = in_git and _git(path, "ls-files", "--error-unmatch", path.name) is not None
    if tracked and _git(path, "diff", "--quiet", "HEAD", "--", path.name) is not None:
        last = _git(path, "log", "-1", "--format=%H %cI", "--", path.name) or ""
        commit, _, when = last.partition(" ")
        return Registration(blob, "git", commit or None, when or None)
    if not tracked and path.is_relative_to(packaged_configs().resolve()):
        # an installed package's plan (even inside a user's own repository, e.g. a .venv)
        return Registration(blob, f"package patchswap {__version__}")
    if kind == "confirmatory":
        state = (
            "changed since its last commit"
            if tracked
            else "not committed"
            if in_git
            else "not in a git repository"
        )
        raise ConfigError(
            f"study plan {path} is {state}: a confirmatory plan is registered by its commit; "
            f"commit it first (git add {path.name} && git commit), or mark it `kind: "
            "exploratory`"
        )
    return Registration(blob, "uncommitted")


def register(path: Path, kind: str, cells: Path) -> Registration:
    """Check the plan against the record of its cells (written when the first cell starts)."""
    now = current(path, kind)
    record = cells / FILE
    if record.is_file():
        saved = Registration(**json.loads(record.read_text()))
        if saved.blob != now.blob:
            raise ConfigError(
                f"the cells in {cells} were started {saved.first_cell_started} under another "
                f"version of {Path(path).name} (blob {saved.blob[:10]}, now {now.blob[:10]}); "
                "restore that version, or run the changed plan with another --output-dir"
            )
        return saved
    now.first_cell_started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cells.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps(asdict(now), indent=2) + "\n")
    return now


def from_history(path: Path) -> Registration:
    """For a page published before registration was recorded: the plan's first commit."""
    path = Path(path).resolve()
    log = _git(path, "log", "--diff-filter=A", "--follow", "--format=%H %cI", "--", path.name)
    first = log.splitlines()[-1] if log else ""
    commit, _, when = first.partition(" ")
    return Registration(blob_hash(path), "git history", commit or None, when or None)
