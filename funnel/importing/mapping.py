"""Mapping a file onto a stream: columns guessed from the header, stages resolved to steps or
outcomes, owners to members or kept names, mapping files and the key a remembered mapping is
found by.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from funnel.importing.cells import _Bad
from funnel.importing.reading import Table, _distinct
from funnel.importing.types import (
    FIELDS,
    IGNORE,
    IMPORT_FORMATS,
    LEAD_FORMATS,
    LOST,
    WON,
    ImportOptions,
    ImportRejected,
)
from funnel.models import DealStatus
from streams.models import Membership, ProcessStep, Role, ValueStream

# --- Columns and stages ------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.casefold())


def _stage_key(name: str) -> str:
    return " ".join(name.casefold().split())


# Header names (lower case, letters and digits only, space-separated) each field is guessed
# from, best first.
_DEAL_ALIASES = {
    "deal_name": "dealname opportunityname name opportunity casename",
    "account": "account accountname company associatedcompany companyname",
    "amount": "amount dealamount dealvalue value closevalue amountinhomecurrency",
    "owner": "owner dealowner opportunityowner ownerusername owneremail salesagent salesrep",
    "source": "source leadsource dealsource originalsource channel",
    "lost_reason": "lostreason closedlostreason lossreason reasonlost",
}
_ALIASES: dict[str, dict[str, str]] = {
    "visits": {
        "deal_id": "dealid opportunityid caseid caseconceptname case externalid recordid deal id",
        "step": "step stepname activity conceptname activityname stage stagename",
        "entered_at": "enteredat entered startedat starttime start enteredon starttimestamp "
        "timestamp",
        "exited_at": "exitedat exited endedat endtime end completedat leftat completetimestamp "
        "timetimestamp",
        "work_minutes": "workminutes work minutes handsonminutes effortminutes",
        "actor": "actor resource orgresource performedby user assignee",
        **_DEAL_ALIASES,
        "outcome": "outcome status dealstatus result wonlost",
        "closed_at": "closedat closedate dateclosed closedon closed",
        "created_at": "createdat createdate datecreated createdon created",
    },
    "transitions": {
        # Salesforce OpportunityHistory: Id is the history row's, CreatedDate the change's.
        # pm4py's names too: case:concept:name, concept:name, time:timestamp, org:resource.
        "deal_id": "dealid opportunityid opportunity caseid recordid deal id caseconceptname",
        "stage": "stage stagename tostage newstage dealstage newvalue step conceptname activity",
        "changed_at": "changedat createddate changeddate datechanged editdate stagechangedate "
        "lastmodifieddate lastmodified timestamp timetimestamp date changed",
        "actor": "actor changedby createdby createdbyid lastmodifiedby editedby orgresource",
        "lifecycle": "lifecycletransition lifecycle",
        **_DEAL_ALIASES,
        "created_at": "createdat dealcreatedat opportunitycreatedat",
    },
    # An XES log's table (funnel.importing.formats.xes.HEADERS).
    "xes": {
        "deal_id": "caseconceptname",
        "step": "conceptname",
        "entered_at": "starttimestamp",
        "exited_at": "timetimestamp",
        "work_minutes": "workminutes",
        "actor": "orgresource",
        **{f: _norm(f) for f in ("deal_name", "account", "amount", "owner", "source")},
        **{f: _norm(f) for f in ("outcome", "closed_at", "lost_reason", "created_at")},
    },
    "wide": {
        "deal_id": "dealid recordid hsobjectid opportunityid deal id",
        "stage": "dealstage stage stagename currentstage finalstage status",
        "entered_at": "engagedate engagedat engaged dateengaged entereddate startdate entered",
        "closed_at": "closedate closedat dateclosed closed",
        **_DEAL_ALIASES,
        "created_at": "createdate createdat datecreated created",
    },
    # HubSpot contacts export (labels as exported; internal property names second).
    "hs_contacts": {
        "deal_id": "recordid contactid hsobjectid vid id",
        "stage": "lifecyclestage lifecycle",
        "created_at": "createdate createdat datecreated",
        "first_name": "firstname",
        "last_name": "lastname",
        "deal_name": "name fullname contactname",
        "account": "companyname company associatedcompany account",
        "owner": "contactowner hubspotowner hubspotownerid owner",
        "source": "originalsource hsanalyticssource originalsourcetype source leadsource",
    },
    # Salesforce LeadHistory (LeadId, CreatedDate, Field, OldValue, NewValue), with the Lead
    # export's columns (Data Loader: Lead.Name …; the Lead History report's labels too).
    "sf_leads": {
        "deal_id": "leadid leadleadid lead id",
        "field": "field fieldevent event",
        "old_value": "oldvalue old",
        "new_value": "newvalue new",
        "changed_at": "editdate createddate changedat changeddate",
        "actor": "createdbyid createdby editedby createdbyname changedby",
        "deal_name": "leadname name fullname",
        "first_name": "leadfirstname firstname",
        "last_name": "leadlastname lastname",
        "account": "leadcompany company companyaccount account",
        "owner": "leadownername leadowner leadownerid owner ownername ownerid",
        "source": "leadleadsource leadsource source",
        # After changed_at: "Created Date" is the lead's when "Edit Date" dates the change.
        "created_at": "leadcreateddate leadcreated createddate",
        "status": "leadstatus status currentstatus",
        "converted_at": "leadconverteddate converteddate",
    },
}
# HubSpot's stage columns: Date entered "Appointment Scheduled (Sales Pipeline)" (as exported)
# or hs_date_entered_<stage id> (the internal property names).
_ENTERED = re.compile(r"""date\s+entered\s*[\"'“”‘’](?P<stage>.+?)[\"'“”‘’]\s*""", re.IGNORECASE)
_ENTERED_INTERNAL = re.compile(r"hs_date_entered_(?P<stage>\w+)", re.IGNORECASE)
_PIPELINE_SUFFIX = re.compile(r"\s*\(([^()]*)\)\s*$")
# HubSpot contacts: "Became a Marketing Qualified Lead Date" (as exported) or
# hs_lifecyclestage_marketingqualifiedlead_date (the internal property names).
_BECAME = re.compile(r"became\s+an?\s+(?P<stage>.+?)\s+date", re.IGNORECASE)
_BECAME_INTERNAL = re.compile(
    r"hs_lifecyclestage_(?P<stage>[a-z0-9_]+?)_date|hs_v2_date_entered_(?P<v2>[a-z0-9_]+)",
    re.IGNORECASE,
)
#: HubSpot's default lifecycle stages by internal value (the Lifecycle Stage column may hold
#: either), with the labels the export's "Became a … Date" columns use.
LIFECYCLE_LABELS = {
    "subscriber": "Subscriber",
    "lead": "Lead",
    "marketingqualifiedlead": "Marketing Qualified Lead",
    "salesqualifiedlead": "Sales Qualified Lead",
    "opportunity": "Opportunity",
    "customer": "Customer",
    "evangelist": "Evangelist",
    "other": "Other",
}


def _check_format(format: str) -> None:
    if format not in IMPORT_FORMATS:
        raise ImportRejected(f"Unknown format '{format}'; use one of {', '.join(IMPORT_FORMATS)}.")


def _check_table_format(table: Table, format: str) -> None:
    """An XES log goes with the xes format only, and the xes format reads XES logs only."""
    if table.kind == "xes" and format != "xes":
        raise ImportRejected(
            f"This file is an XES event log, not a CSV table of the {format} format; choose "
            "the xes format for it."
        )
    if table.kind != "xes" and format == "xes":
        raise ImportRejected(
            "The xes format reads XES event logs (.xes, or .xes.gz gzip-compressed); this file "
            "is a CSV table. Choose the format of its rows (visits, transitions …)."
        )


def guess_columns(table: Table, format: str) -> dict[str, str]:
    """Default column mapping, canonical field -> header, from header names and their usual
    aliases in Salesforce, HubSpot and process-mining exports. Fields with no match are left
    out; a header is used for one field at most."""
    _check_format(format)
    _check_table_format(table, format)
    by_norm: dict[str, str] = {}
    stage_columns = set(_stage_columns(table.headers, format))
    for header in table.headers:
        if header and header not in stage_columns:
            by_norm.setdefault(_norm(header), header)
    used: set[str] = set()
    guessed: dict[str, str] = {}
    for f in FIELDS[format]:
        for alias in _ALIASES[format].get(f.name, "").split():
            header = by_norm.get(alias)
            if header is not None and header not in used:
                guessed[f.name] = header
                used.add(header)
                break
    return guessed


def _stage_columns(headers: list[str], format: str = "wide") -> dict[str, str]:
    """Wide files: header -> stage name of each ``Date entered "<stage>"`` column. A pipeline
    name that every stage carries in parentheses ("Closed Won (Sales Pipeline)") is dropped.
    HubSpot contacts (``hs_contacts``): the ``Became a <stage> Date`` columns too (stage
    labels as the Lifecycle Stage column shows them: "Other", not "Other Lifecycle Stage").
    Other formats have none."""
    if format not in ("wide", "hs_contacts"):
        return {}
    found: dict[str, str] = {}
    entered: dict[str, str] = {}
    for header in headers:
        match = _ENTERED.fullmatch(header) or _ENTERED_INTERNAL.fullmatch(header)
        if match:
            found[header] = entered[header] = match["stage"].strip()
        elif format == "hs_contacts" and (
            match := _BECAME.fullmatch(header.strip()) or _BECAME_INTERNAL.fullmatch(header)
        ):
            stage = (match["stage"] or match.groupdict().get("v2") or "").strip()
            stage = LIFECYCLE_LABELS.get(stage.replace("_", "").casefold(), stage)
            found[header] = re.sub(r"\s+lifecycle\s+stage$", "", stage, flags=re.IGNORECASE)
    suffixes = {m[1] if (m := _PIPELINE_SUFFIX.search(s)) else None for s in entered.values()}
    if len(entered) > 1 and len(suffixes) == 1 and None not in suffixes:
        found.update({h: _PIPELINE_SUFFIX.sub("", s) for h, s in entered.items()})
    return found


_OBVIOUS = {
    "won": WON,
    "closedwon": WON,
    "dealwon": WON,
    "win": WON,
    "lost": LOST,
    "closedlost": LOST,
    "deallost": LOST,
}


#: The outcome column's usual values, read without a regular expression.
_OUTCOMES = {"won": WON, "lost": LOST, "open": DealStatus.OPEN, "": DealStatus.OPEN}


#: Lead statuses that obviously end a lead (lead formats only): Salesforce's default
#: "Closed - Not Converted", and unqualified or disqualified leads.
_OBVIOUS_LEAD = {
    "closednotconverted": LOST,
    "unqualified": LOST,
    "disqualified": LOST,
}


def _obvious_outcome(name: str, format: str = "") -> str | None:
    key = _norm(name)
    found = _OBVIOUS.get(key)
    if found is None and format in LEAD_FORMATS:
        found = _OBVIOUS_LEAD.get(key)
    return found


def _columns(table: Table, options: ImportOptions) -> dict[str, str]:
    columns = dict(options.columns) if options.columns else guess_columns(table, options.format)
    known = {f.name for f in FIELDS[options.format]}
    columns = {k: v for k, v in columns.items() if v}
    unknown_fields = sorted(set(columns) - known)
    if unknown_fields:
        raise ImportRejected(
            f"The column mapping names fields the {options.format} format does not have: "
            + ", ".join(unknown_fields)
            + f". Its fields: {', '.join(f.name for f in FIELDS[options.format])}."
        )
    file_columns = ", ".join(f"'{h}'" for h in table.headers if h)
    missing_headers = sorted({v for v in columns.values() if v not in table.headers})
    if missing_headers:
        raise ImportRejected(
            "The column mapping names columns the file does not have: "
            + ", ".join(f"'{h}'" for h in missing_headers)
            + f". The file's columns: {file_columns}."
        )
    required = [f for f in FIELDS[options.format] if f.required]
    if options.format == "wide" and not _stage_columns(table.headers):
        required += [f for f in FIELDS["wide"] if f.name in ("stage", "entered_at")]
    if options.format == "hs_contacts" and not _stage_columns(table.headers, "hs_contacts"):
        required += [f for f in FIELDS["hs_contacts"] if f.name in ("stage", "created_at")]
    missing = [f for f in required if f.name not in columns]
    if missing:
        raise ImportRejected(
            "The file is missing required columns: "
            + ", ".join(f"{f.label} ({f.name})" for f in missing)
            + f". Map them to the file's columns: {file_columns}."
            + (
                ' A wide file needs either Date entered "<stage>" columns or an engage date '
                "and a final stage."
                if options.format == "wide"
                else ' A HubSpot contacts file needs either "Became a … Date" columns or a '
                "lifecycle stage and a create date."
                if options.format == "hs_contacts"
                else ""
            )
        )
    return columns


def source_stages(table: Table, options: ImportOptions) -> list[str]:
    """The distinct stage names the file uses, in order of first use: the step column
    (visits), the stage column (transitions), or for wide files the ``Date entered`` stage
    columns then the other values of the stage column. A simple wide file lists the engage
    date's column name first: the mapping may send it to the step deals enter at.

    Never raises for a mapping that is incomplete (the wizard asks while it is being made):
    without a stage column only the ``Date entered`` columns are listed."""
    _check_format(options.format)
    columns = {
        f: h
        for f, h in (options.columns or guess_columns(table, options.format)).items()
        if h and h in table.headers
    }
    names: dict[str, None] = {}
    stage_columns = _stage_columns(table.headers, options.format)
    names.update(dict.fromkeys(stage_columns.values()))
    if options.format == "wide" and not stage_columns and "entered_at" in columns:
        names[columns["entered_at"]] = None
    if options.format == "sf_leads":
        values = _lead_statuses(table, columns)
    else:
        column = columns.get("step" if options.format in ("visits", "xes") else "stage")
        values = _distinct(table, column) if column else {}
        if options.format == "hs_contacts":
            values = {lifecycle_stage(v, stage_columns): n for v, n in values.items()}
    seen_keys = {_stage_key(n) for n in names}
    for value in values:
        if value not in names and _stage_key(value) not in seen_keys:
            names[value] = None
            seen_keys.add(_stage_key(value))
    return list(names)


def lifecycle_stage(value: str, stage_columns: dict[str, str]) -> str:
    """A HubSpot Lifecycle Stage cell as the stage name its date column uses: the internal
    value ``marketingqualifiedlead`` (or any spelling) reads as "Marketing Qualified Lead"."""
    key = _norm(value)
    for stage in stage_columns.values():
        if _norm(stage) == key:
            return stage
    return LIFECYCLE_LABELS.get(key, value)


#: The Field values of a Salesforce lead history that are the lead's status (API name and the
#: Lead History report's label), its creation, and its conversion.
LEAD_STATUS_FIELDS = frozenset({"status", "leadstatus"})
LEAD_CREATED_FIELDS = frozenset({"created", "leadcreated"})


def lead_row_kind(field: str) -> str:
    """What a row of a Salesforce lead history is, by its Field cell: "status" (a change of
    the lead's status; an empty cell too), "created", or "other" (skipped)."""
    key = _norm(field)
    if not key or key in LEAD_STATUS_FIELDS:
        return "status"
    return "created" if key in LEAD_CREATED_FIELDS else "other"


def _lead_statuses(table: Table, columns: dict[str, str]) -> dict[str, int]:
    """The statuses of a Salesforce lead history: old and new values of its status rows, and
    the leads' current status. From the scan when every row is a status change (or created);
    otherwise from the rows (of a large file, the first megabyte the wizard holds)."""
    found: dict[str, int] = {}
    field = columns.get("field")
    value_columns = [columns[f] for f in ("old_value", "new_value") if f in columns]
    kinds = {lead_row_kind(v) for v in _distinct(table, field)} if field else {"status"}
    if kinds <= {"status", "created"}:
        for column in value_columns:
            for value, n in _distinct(table, column).items():
                found[value] = found.get(value, 0) + n
    else:
        at = {h: i for i, h in enumerate(table.headers)}
        i_field, indexes = at[field], [at[c] for c in value_columns]
        for cells in table.rows:
            if i_field < len(cells) and lead_row_kind(cells[i_field]) == "status":
                for i in indexes:
                    value = cells[i].strip() if i < len(cells) else ""
                    if value:
                        found[value] = found.get(value, 0) + 1
    if "status" in columns:
        for value, n in _distinct(table, columns["status"]).items():
            found[value] = found.get(value, 0) + n
    return found


def unknown_stages(stream: ValueStream, table: Table, options: ImportOptions) -> list[str]:
    """The stages of :func:`source_stages` that match no step name (case-insensitively), are
    not in ``options.steps`` and are not obviously won or lost. In a simple wide file every
    final stage that is not won, lost or ignored means "open", so none is unknown. A stage
    mapped to a step the stream lacks counts as unknown (no error is raised here)."""
    stages = source_stages(table, options)
    resolver = _StageResolver(stream, options, strict=False)
    if options.format == "wide" and not _stage_columns(table.headers):
        return []
    return [s for s in stages if resolver.resolve(s) is None]


def stage_defaults(stream: ValueStream, table: Table, options: ImportOptions) -> dict[str, str]:
    """How each stage of :func:`source_stages` is read when the wizard leaves it unmapped, in
    words for the wizard's "no choice" option: the step of the same name, a won or lost
    outcome recognised by its name, or "" when it is unknown. In a wide file of one row per
    deal (no ``Date entered`` columns) an unmapped final stage means "open", and the engage
    date's column means the stream's first step: the readings say so."""
    resolver = _StageResolver(stream, replace(options, steps={}), strict=False)
    simple_wide = options.format == "wide" and not _stage_columns(table.headers)
    engage = (options.columns or guess_columns(table, options.format)).get("entered_at")
    readings = {}
    for stage in source_stages(table, options):
        target = resolver.resolve(stage)
        if simple_wide and stage == engage and resolver.step_names:
            readings[stage] = f"deals enter at the first step: {resolver.step_names[0]}"
        elif target in (WON, LOST):
            readings[stage] = f"→ {target.capitalize()} (recognised)"
        elif simple_wide:  # a final stage that is not an outcome: the deal is open
            readings[stage] = "open: the deal is still in the stream"
        elif isinstance(target, int):
            readings[stage] = f"same name: {resolver.step_names[target]}"
        else:
            readings[stage] = ""
    return readings


#: The wizard lists at most this many distinct owner names (the rest are read the same way).
OWNER_NAMES_LISTED = 200


@dataclass(frozen=True)
class OwnerName:
    """A distinct name of the owner column, with the member it matches (by username or
    email) or None."""

    name: str
    rows: int
    member: str | None


def source_owners(stream: ValueStream, table: Table, options: ImportOptions) -> list[OwnerName]:
    """The distinct owner names the file uses (up to :data:`OWNER_NAMES_LISTED`, most rows
    first) and the username of the team member each matches without a mapping, for the
    wizard's owner step. Empty when no column is mapped to the owner."""
    _check_format(options.format)
    columns = options.columns or guess_columns(table, options.format)
    header = columns.get("owner")
    if not header or header not in table.headers:
        return []
    counts: dict[str, int] = {}
    for value, count in _distinct(table, header).items():
        name = " ".join(value.split())
        counts[name] = counts.get(name, 0) + count
    people = _People(stream)
    names = sorted(counts, key=lambda n: (-counts[n], n.casefold()))[:OWNER_NAMES_LISTED]
    result = []
    for name in names:
        user_id = people.find(name)
        result.append(OwnerName(name, counts[name], people.usernames.get(user_id)))
    return result


def team_owners(stream: ValueStream) -> list[tuple[str, str]]:
    """(username, display name) of the members a deal may belong to: managers and reps."""
    rows = (
        Membership.objects.filter(team_id=stream.team_id, role__in=(Role.MANAGER, Role.REP))
        .order_by("user__first_name", "user__username")
        .values_list("user__username", "user__first_name", "user__last_name")
    )
    return [(u, f"{first} {last}".strip() or u) for u, first, last in rows]


class _StageResolver:
    def __init__(self, stream: ValueStream, options: ImportOptions, *, strict: bool = True):
        self.format = options.format
        self.steps = list(
            ProcessStep.objects.filter(stream=stream).order_by("position").values_list("id", "name")
        )
        self.step_ids = [pk for pk, _ in self.steps]
        self.step_names = [name for _, name in self.steps]
        by_name = {_stage_key(name): i for i, name in enumerate(self.step_names)}
        self.by_name = by_name
        self.mapping: dict[str, int | str | None] = {}
        bad = []
        for source, target in options.steps.items():
            if not target or not str(target).strip():
                continue
            t = str(target).strip()
            special = t.casefold()
            if special in (WON, LOST, IGNORE):
                self.mapping[_stage_key(source)] = special
            elif _stage_key(t) in by_name:
                self.mapping[_stage_key(source)] = by_name[_stage_key(t)]
            else:
                bad.append(f"'{source}' → '{t}'")
                self.mapping[_stage_key(source)] = None  # unknown (when not strict)
        if bad and strict:
            raise ImportRejected(
                f"The stage mapping sends stages to steps that stream '{stream.name}' does not "
                f"have: {', '.join(bad)}. Its steps: "
                + (", ".join(f"'{n}'" for n in self.step_names) or "none")
                + "; or use won, lost or ignore."
            )
        self._cache: dict[str, int | str | None] = {}

    def resolve(self, name: str) -> int | str | None:
        """Step index, WON, LOST, IGNORE, or None when unknown."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        key = _stage_key(name)
        target: int | str | None
        if key in self.mapping:
            target = self.mapping[key]
        else:
            # "Closed Won" is the outcome even in a stream that has a step of that name (won
            # and lost are outcomes, not steps); a mapping can still send it to the step.
            target = _obvious_outcome(name, self.format)
            if target is None:
                target = self.by_name.get(key)
        self._cache[name] = target
        return target


# --- People -------------------------------------------------------------------------------------


class _People:
    """Managers and reps of the stream's team, found by username or email."""

    def __init__(self, stream: ValueStream) -> None:
        self.team = stream.team
        self.exact: dict[str, int] = {}
        loose: dict[str, set[int]] = {}
        self.usernames: dict[int, str] = {}
        for pk, username, email in Membership.objects.filter(
            team_id=stream.team_id, role__in=(Role.MANAGER, Role.REP)
        ).values_list("user_id", "user__username", "user__email"):
            self.exact[username] = pk
            self.usernames[pk] = username
            loose.setdefault(username.casefold(), set()).add(pk)
            if email:
                loose.setdefault(email.casefold(), set()).add(pk)
        self.loose = {k: next(iter(v)) for k, v in loose.items() if len(v) == 1}

    def find(self, text: str) -> int | None:
        t = text.strip()
        return self.exact.get(t) or self.loose.get(t.casefold())


#: Longest owner name kept for an owner who is not a user (``Deal.owner_name``).
MAX_OWNER_NAME = 120


class _Owners:
    """Reads the owner column: a member by the wizard's owner mapping, else by username or
    email, else the name itself as an external owner (a file is never refused for names)."""

    def __init__(self, stream: ValueStream, people: _People, mapping: dict[str, str]) -> None:
        self.people = people
        self.mapping: dict[str, int | None] = {}
        bad = []
        for name, target in mapping.items():
            wanted = (target or "").strip()
            if not wanted:
                self.mapping[_stage_key(name)] = None
                continue
            user_id = people.find(wanted)
            if user_id is None:
                bad.append(f"'{name}' → '{wanted}'")
            self.mapping[_stage_key(name)] = user_id
        if bad:
            raise ImportRejected(
                "The owner mapping names people who are not managers or reps of team "
                f"{stream.team.name}: {', '.join(bad)}. Choose a member, or keep the name."
            )
        self._cache: dict[str, tuple[int | None, str | None]] = {}

    def find(self, text: str) -> tuple[int | None, str | None]:
        """``(user id, None)`` for a member, ``(None, name)`` for anyone else."""
        found = self._cache.get(text)
        if found is not None:
            return found
        name = " ".join(text.split())
        key = _stage_key(name)
        user_id = self.mapping[key] if key in self.mapping else self.people.find(name)
        if user_id is None and len(name) > MAX_OWNER_NAME:
            raise _Bad(f"longer than {MAX_OWNER_NAME} characters ({len(name)}).")
        found = (user_id, None) if user_id is not None else (None, name)
        self._cache[text] = found
        return found

    def kept(self) -> list[str]:
        """The names read so far that are kept as names (no member), sorted."""
        return sorted({name for _, name in self._cache.values() if name})


MAPPING_KEYS = ("columns", "steps", "owners", "time_zone", "day_first")


def load_mapping(text: str) -> dict[str, Any]:
    """Parse a mapping file, JSON or YAML (docs/importing.md): ``columns`` {field: header},
    ``steps`` {stage: step | won | lost | ignore}, ``owners`` {name in the file: username or
    email of a member, or "" to keep the name}, optional ``time_zone`` and ``day_first``.
    Raises :class:`ImportRejected` saying what is wrong."""
    text = text.removeprefix("\ufeff")
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as json_error:
        if text.lstrip()[:1] in ("{", "["):
            raise ImportRejected(f"The mapping file is not valid JSON: {json_error}.") from None
        try:
            mapping = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise ImportRejected(
                f"The mapping file is neither JSON nor YAML{line}: "
                f"{getattr(exc, 'problem', None) or exc}."
            ) from None
    if not isinstance(mapping, dict):
        raise ImportRejected(
            "The mapping file must hold a mapping with the keys columns, steps and owners "
            '(JSON: {"columns": {…}, "steps": {…}}).'
        )
    unknown = set(mapping) - set(MAPPING_KEYS)
    if unknown:
        raise ImportRejected(
            f"The mapping file has unknown keys: {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(MAPPING_KEYS)})."
        )
    for key in ("columns", "steps", "owners"):
        value = mapping.get(key) or {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str | None) for k, v in value.items()
        ):
            raise ImportRejected(f'"{key}" in the mapping file must map names to names.')
        mapping[key] = {k: v or "" for k, v in value.items()}
    if "time_zone" in mapping and not isinstance(mapping["time_zone"], str):
        raise ImportRejected('"time_zone" in the mapping file must be a name like Europe/Berlin.')
    if "day_first" in mapping and not isinstance(mapping["day_first"], bool):
        raise ImportRejected('"day_first" in the mapping file must be true or false.')
    return mapping


def options_with_mapping(
    options: ImportOptions, mapping: dict[str, Any], headers: Sequence[str]
) -> ImportOptions:
    """``options`` with a mapping (a mapping file's, or a remembered one) laid over them: its
    columns replace those guessed (a column the file lacks is left out; "" unmaps a field),
    its stages and owners are added, and its time zone and day order apply when it has them."""
    columns = dict(options.columns)
    for name, header in (mapping.get("columns") or {}).items():
        if not header:
            columns.pop(name, None)
        elif header in headers:
            columns[name] = header
    return replace(
        options,
        columns=columns,
        steps={**options.steps, **(mapping.get("steps") or {})},
        owners={**options.owners, **(mapping.get("owners") or {})},
        time_zone=mapping.get("time_zone") or options.time_zone,
        day_first=mapping.get("day_first", options.day_first),
    )


def obvious_outcome(name: str, format: str = "") -> str | None:
    """ "won" or "lost" for a stage name that obviously is one (Won, Closed Won, closedlost
    …; in the lead formats also Unqualified, Disqualified, Closed - Not Converted), else
    None."""
    return _obvious_outcome(name, format)


def source_key(headers: Sequence[str], format: str) -> str:
    """What identifies a file's source for a remembered mapping: its format and its column
    names (in any order, compared as :func:`_norm` does), as a hex digest."""
    names = sorted({_norm(h) for h in headers if h})
    return hashlib.sha256("\x1f".join([format, *names]).encode()).hexdigest()
