"""Error hierarchy of the workbench.

Every message names the file / row / column / parameter it is about, the values
that are allowed and what was given. No message ever contains a respondent's
raw answer: callers pass positions and column names, never cell contents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Exit codes used by the CLI; one distinct code per kind of failure so a
# scheduler can tell bad input from a locked workspace from a bug.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_LOCKED = 4
EXIT_CONFIDENTIALITY = 5
EXIT_NOTEBOOK = 6
EXIT_CONFLICT = 7
EXIT_STALE_WAVE = 8  # --wave latest: a newer org chart or headcount has no responses yet


class CultureError(Exception):
    """Base class of every error the workbench raises on purpose."""

    exit_code = EXIT_INTERNAL


@dataclass(frozen=True)
class Problem:
    """One problem found while checking an input.

    ``where`` locates it (file, row, column or a YAML path); ``message`` says
    what is wrong and what is allowed, without echoing respondent data.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ProblemsError(CultureError):
    """An error that carries every problem found in one pass."""

    exit_code = EXIT_BAD_INPUT
    headline = "invalid input"

    def __init__(self, problems: Iterable[Problem], *, source: str = "", limit: int = 200):
        self.problems = tuple(problems)
        self.source = source
        shown = self.problems[:limit]
        lines = [f"{self.headline}{' in ' + source if source else ''}: "
                 f"{len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        super().__init__("\n".join(lines))


class InstrumentError(ProblemsError):
    """The survey instrument definition (YAML) is invalid."""

    headline = "invalid instrument definition"


class ValidationError(ProblemsError):
    """An input file (export, org chart, register) failed validation."""

    headline = "invalid input file"


class ConfigError(CultureError):
    """A parameter or setting is invalid (names the parameter and allowed values)."""

    exit_code = EXIT_USAGE


class ScoringError(CultureError):
    """Response data cannot be scored (e.g. a code outside the scale)."""

    exit_code = EXIT_BAD_INPUT


class WorkspaceError(CultureError):
    """The workspace is missing, damaged or misconfigured."""

    exit_code = EXIT_BAD_INPUT


class WorkspaceLockedError(WorkspaceError):
    """Another process is writing to the workspace."""

    exit_code = EXIT_LOCKED


class PseudonymKeyError(WorkspaceError):
    """The pseudonymisation key is missing or does not match the workspace."""


class ImportConflictError(CultureError):
    """An import would change data already stored (needs explicit supersede)."""

    exit_code = EXIT_CONFLICT


class ConfidentialityError(CultureError):
    """A release would breach (or did breach) the confidentiality rules."""

    exit_code = EXIT_CONFIDENTIALITY


class StaleWaveError(CultureError):
    """``--wave latest`` would report an older wave than the newest org chart or headcount:
    the new wave's survey export has not been ingested yet (worth a retry later)."""

    exit_code = EXIT_STALE_WAVE


class NotebookError(CultureError):
    """A report notebook failed; names the notebook and cell, never data."""

    exit_code = EXIT_NOTEBOOK


class InsufficientDataError(CultureError):
    """Too few units / observations for an honest estimate."""

    exit_code = EXIT_BAD_INPUT


class ModelFitError(CultureError):
    """A model could not be estimated (no convergence, singular design)."""

    exit_code = EXIT_BAD_INPUT


class DriverInputError(ProblemsError):
    """Inputs to a driver analysis are invalid (lists every problem found)."""

    headline = "invalid input to a driver analysis"


class TrendInputError(ProblemsError):
    """Inputs to a trend statistic are invalid (lists every problem found)."""

    headline = "invalid input to a trend statistic"


class ReleaseBlocked(ConfidentialityError):
    """A release of a wave cannot be made safely (a second cut, other thresholds, or a first
    release the audit refuses); the message names the wave and the way out."""


class TrendAnalysisError(ProblemsError):
    """Waves, releases or org charts handed to a trend analysis do not fit together."""

    headline = "cannot analyse change over time"


class PsychometricsInputError(ProblemsError):
    """Data handed to a psychometric analysis cannot be analysed as given."""

    headline = "invalid input for a psychometric analysis"


class AccountingError(WorkspaceError):
    """A parsed file does not account for every row (rows in != accepted + rejected + duplicates).

    This is a defect in the reader, not in the data; nothing is written.
    """
