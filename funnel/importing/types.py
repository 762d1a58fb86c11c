"""The import's public types: the fields a file's columns map to, the options, row errors, the
rejection and the result.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

FORMATS = ("visits", "transitions", "wide")
#: CRM lead exports (docs/importing.md, "Leads from HubSpot and Salesforce"): HubSpot contacts
#: with their lifecycle dates, Salesforce lead history. Each contact or lead is a case.
LEAD_FORMATS = ("hs_contacts", "sf_leads")
#: Every format the import reads (the wizard's and the command's choices); ``xes`` is an
#: XES event log (funnel.importing.formats.xes), read as a table of visits or stage changes.
IMPORT_FORMATS = (*FORMATS, *LEAD_FORMATS, "xes")
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: Row errors kept for the report; more are counted (``ImportRejected.error_count``) only.
MAX_ERRORS = 100_000
#: Deals written (and compared with stored ones) per round trip.
CHUNK_DEALS = 2_000
CLOCK_SKEW = timedelta(minutes=5)
WON, LOST, IGNORE = "won", "lost", "ignore"

Progress = Callable[[int, int, str], None]

# --- Public types ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A canonical field the wizard maps a file column to."""

    name: str
    label: str
    required: bool
    help: str


_ACCOUNT = Field("account", "Account", False, "Company or account name.")
_OWNER = Field(
    "owner",
    "Owner",
    False,
    "A team member's username or email, or any name (a CRM agent's display name): names "
    "that are not members are kept as the deal's owner name, or matched to a member below.",
)
_SOURCE = Field("source", "Lead source", False, "inbound, outbound, referral …")
_DEAL_FIELDS = [
    Field("deal_name", "Deal name", False, "Defaults to the deal id."),
    _ACCOUNT,
    Field("amount", "Amount", False, "A number (12345.67; 12,345.67 and a $ € £ sign are fine)."),
    _OWNER,
    _SOURCE,
]
#: The stage-change formats' actor column.
_CHANGED_BY = Field(
    "actor", "Changed by", False, "Becomes the actor of the visit the change opens."
)
#: The lead formats' name parts (a case's name when there is no full name).
_NAME_PARTS = [
    Field("first_name", "First name", False, "With the last name, the case's name."),
    Field("last_name", "Last name", False, "With the first name, the case's name."),
]


def _deal_ending(lost_reason: str, created_empty: str) -> list[Field]:
    """The last two fields of every deal format: the lost reason (``lost_reason``: when that
    format keeps it) and the creation date (``created_empty``: what an empty one means)."""
    return [
        Field("lost_reason", "Lost reason", False, lost_reason),
        Field(
            "created_at", "Created at", False, f"When the deal was created; empty: {created_empty}."
        ),
    ]


FIELDS: dict[str, list[Field]] = {
    "visits": [
        Field("deal_id", "Deal id", True, "The deal's id in the CRM (the case id)."),
        Field(
            "step",
            "Step",
            True,
            "The process step of the visit. A won or lost stage here sets the outcome instead.",
        ),
        Field("entered_at", "Entered at", True, "When the deal arrived at the step."),
        Field("exited_at", "Exited at", False, "When it left; empty while it is still there."),
        Field("work_minutes", "Work minutes", False, "Hands-on minutes, a whole number."),
        Field(
            "actor",
            "Actor",
            False,
            "Who did the work: a team member's username or email, or any name or role.",
        ),
        *_DEAL_FIELDS,
        Field("outcome", "Outcome", False, "won, lost or open (empty: open)."),
        Field(
            "closed_at",
            "Closed at",
            False,
            "When a won or lost deal closed; empty: when it left its last step.",
        ),
        *_deal_ending("Only for lost deals.", "its first visit"),
    ],
    "transitions": [
        Field("deal_id", "Deal id", True, "The deal's id (Salesforce: OpportunityId)."),
        Field("stage", "Stage", True, "The stage the deal changed to (StageName)."),
        Field("changed_at", "Changed at", True, "When it changed (CreatedDate)."),
        _CHANGED_BY,
        Field(
            "lifecycle",
            "Lifecycle transition",
            False,
            "An event log's lifecycle:transition (pm4py): complete rows are stage changes; "
            "schedule, assign, reassign, suspend and resume rows are skipped.",
        ),
        *_DEAL_FIELDS,
        *_deal_ending("Kept only when the deal ends lost.", "its first change"),
    ],
    "wide": [
        Field("deal_id", "Deal id", True, "The deal's id (HubSpot: Record ID)."),
        Field(
            "stage",
            "Final stage",
            False,
            "Current or final stage (Won, Lost, or an open stage). Required unless the file "
            'has Date entered "<stage>" columns.',
        ),
        Field(
            "entered_at",
            "Engage date",
            False,
            "When the deal entered the stream (its first step). Required unless the file has "
            'Date entered "<stage>" columns.',
        ),
        Field(
            "closed_at",
            "Close date",
            False,
            "When a won or lost deal closed (ignored for open deals: an expected date).",
        ),
        *_DEAL_FIELDS,
        *_deal_ending("Kept only when the deal is lost.", "its first date"),
    ],
    "hs_contacts": [
        Field("deal_id", "Contact id", True, "The contact's id (HubSpot: Record ID)."),
        Field(
            "stage",
            "Lifecycle stage",
            False,
            "The contact's current lifecycle stage. Required unless the file has "
            '"Became a … Date" (or Date entered "…") columns.',
        ),
        Field(
            "created_at",
            "Create date",
            False,
            "When the contact was created; a contact without stage dates enters its current "
            "stage then.",
        ),
        *_NAME_PARTS,
        Field("deal_name", "Name", False, "A full name (else first and last name, or the id)."),
        _ACCOUNT,
        _OWNER,
        Field("source", "Original source", False, "Organic search, paid social, referral …"),
    ],
    "sf_leads": [
        Field("deal_id", "Lead id", True, "The lead's id (LeadHistory: LeadId)."),
        Field(
            "field",
            "Field",
            False,
            "The field that changed: only Status rows (and Created) are read; empty: every row "
            "is a status change.",
        ),
        Field("old_value", "Old value", False, "The status before the change."),
        Field("new_value", "New value", True, "The status after the change (NewValue)."),
        Field("changed_at", "Changed at", True, "When it changed (LeadHistory: CreatedDate)."),
        _CHANGED_BY,
        Field("deal_name", "Name", False, "The lead's name (Lead: Name)."),
        *_NAME_PARTS,
        _ACCOUNT,
        _OWNER,
        _SOURCE,
        Field(
            "created_at",
            "Lead created",
            False,
            "When the lead was created (Lead: CreatedDate): it enters its first status then.",
        ),
        Field("status", "Status", False, "The lead's current status (Lead: Status)."),
        Field(
            "converted_at",
            "Converted at",
            False,
            "When it was converted (Lead: ConvertedDate): it reaches its current status then.",
        ),
    ],
}


#: An XES log is read as a table of visits with pm4py's column names
#: (funnel.importing.formats.xes); a complete-only log's rows are stage changes.
FIELDS["xes"] = list(FIELDS["visits"])


@dataclass
class ImportOptions:
    format: str
    time_zone: str = "UTC"
    day_first: bool = False
    #: canonical field -> file header. Empty: guessed (:func:`guess_columns`); otherwise
    #: complete: a field left out is not read.
    columns: dict[str, str] = field(default_factory=dict)
    #: source stage name -> step name, or "won" / "lost" / "ignore".
    steps: dict[str, str] = field(default_factory=dict)
    #: owner name in the file -> username or email of a manager or rep of the team, or ""
    #: to keep it as an external owner name. Names left out that match a member's username or
    #: email are that member; any other name is kept as the deal's ``owner_name``.
    owners: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportOptions:
        return cls(
            format=data["format"],
            time_zone=data.get("time_zone") or "UTC",
            day_first=bool(data.get("day_first", False)),
            columns=dict(data.get("columns") or {}),
            steps=dict(data.get("steps") or {}),
            owners=dict(data.get("owners") or {}),
        )


@dataclass(slots=True)
class RowError:
    row: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


class ImportRejected(Exception):
    """Nothing was imported. File-level problems have ``errors == []`` and say why in
    ``message``; row problems list every error (up to :data:`MAX_ERRORS`; ``error_count``
    counts them all)."""

    def __init__(
        self,
        message: str,
        errors: list[RowError] | None = None,
        *,
        error_count: int | None = None,
        unknown_stages: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.error_count = len(self.errors) if error_count is None else error_count
        #: Stages that match no step (the caller says how to map them: wizard or --mapping).
        self.unknown_stages = unknown_stages or []


@dataclass
class ImportResult:
    deals_created: int
    deals_updated: int
    deals_unchanged: int
    #: Visits inserted or updated (a dry run: that would be).
    visits_written: int
    #: Data rows in the file.
    rows: int
    #: Deals stored without a visit: never engaged (a simple wide file without engage date).
    deals_without_visit: int = 0
    #: Distinct owner names kept as names (not team members).
    owner_names_kept: int = 0
    #: Qualification scores written from criteria columns (funnel.importing.scores).
    scores_written: int = 0
    #: How the import read what was not plain, in words for the summary.
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The counts, and the notes as one sentence each in a string (a job's result)."""
        values = asdict(self)
        values["notes"] = " ".join(self.notes)
        return values

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportResult:
        notes = data.get("notes") or ""
        return cls(
            **{k: int(data.get(k) or 0) for k in cls.__dataclass_fields__ if k != "notes"},
            notes=[notes] if isinstance(notes, str) and notes else list(notes or []),
        )


class NumberedRows(Sequence[list[str]]):
    """The data rows of an uploaded table, read again from its bytes on every iteration
    rather than held parsed: a subclass gives ``numbered()``, each row with the line or row
    number its messages name; this makes them a sequence (iterate, count once, index, slice).
    """

    _len: int | None = None

    def numbered(self) -> Iterator[tuple[int, list[str]]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[str]]:
        return (cells for _, cells in self.numbered())

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for _ in self.numbered())
        return self._len

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            if (index.start or 0) >= 0 and index.stop is not None and index.stop >= 0:
                return list(itertools.islice(iter(self), index.start, index.stop, index.step))
            return list(self)[index]
        if index < 0:
            index += len(self)
        for i, row in enumerate(self):
            if i == index:
                return row
        raise IndexError(index)
