"""Errors of incident response, in Seawall's one hierarchy (all are ``SeawallError``).

    SeawallError
     └── IncidentError       an incident command cannot proceed (exit 1)
          ├── UnknownIncident    no incident with that id
          ├── DirectoryError     the directory (CSV or SQL) cannot be read as configured
          └── LeakedFileError    the leaked file cannot be read at all

Messages name the input, the problem and the fix.
"""

from __future__ import annotations

from seawall.core.errors import SeawallError


class IncidentError(SeawallError):
    """An incident command cannot proceed."""


class UnknownIncident(IncidentError):
    """No incident has this id."""

    def __init__(self, incident_id: int) -> None:
        super().__init__(
            f"no incident with id {incident_id}; `seawall incident list` shows the open ones"
        )
        self.incident_id = incident_id


class DirectoryError(IncidentError):
    """The configured directory cannot be read."""


class LeakedFileError(IncidentError):
    """The leaked file cannot be read at all (partial reads report counts instead)."""
