"""The error hierarchy of trainsim.

Every error the tool raises on purpose derives from :class:`TrainsimError`; the ones caused by bad
input also derive from a built-in (``ValueError``, ``FileNotFoundError``, ``LookupError``)
so callers may catch either. The command line turns any :class:`TrainsimError` into a one-line
message and exit code 2 (bad input) or 1 (a failure of the run itself).
"""

from __future__ import annotations

__all__ = [
    "DataFileError",
    "NetworkError",
    "NoConnectionError",
    "OutputBusyError",
    "OutputError",
    "RouteNotFoundError",
    "RouteRefusedError",
    "ScenarioError",
    "SightingError",
    "StationNotFoundError",
    "TrainsimError",
    "VariationError",
]


class TrainsimError(Exception):
    """Base class of every error trainsim raises on purpose."""

    #: exit code the command line uses for this error
    exit_code: int = 2


class ScenarioError(ValueError, TrainsimError):
    """A scenario file is malformed, names something unknown, or is inconsistent."""


class DataFileError(FileNotFoundError, TrainsimError):
    """A data file the run needs is missing or unreadable."""


class NetworkError(ValueError, TrainsimError):
    """The rail network snapshot or a downloaded extract is unusable."""


class StationNotFoundError(LookupError, TrainsimError):
    """A station name matched nothing in the station index."""


class RouteNotFoundError(ValueError, TrainsimError):
    """No legal rail route joins two points of a journey."""


class VariationError(ValueError, TrainsimError):
    """A what-if (``trainsim sweep --vary``) names no field of the scenario or its rules, or a
    value the field refuses."""


class NoConnectionError(ConnectionError, TrainsimError):
    """An online download was asked for but the service cannot be reached."""

    exit_code = 1


class OutputError(ValueError, TrainsimError):
    """An output folder cannot be used: it holds a user's files, is a file, or is not writable."""


class OutputBusyError(OutputError):
    """Another run kept the output folder locked for too long."""

    exit_code = 1


class SightingError(ValueError, TrainsimError):
    """A sighting for the nowcast is unreadable, off the route, or impossible with the others."""


class RouteRefusedError(RouteNotFoundError):
    """A route exists but is absurd (leaves the stops' countries, crosses a border twice, passes a
    station twice) and the caller did not allow it."""
