"""Import of the event log (metrics.md §1) from CRM exports: all of a file, or nothing.

Three layouts, one row per …

* ``visits`` — visit: deal id, step, entered at, exited at, work minutes, actor, plus optional
  deal columns (deal_name, account, amount, owner, source, outcome, closed_at, lost_reason,
  created_at). This is what :mod:`funnel.exporting` writes, so an export imports back.
* ``transitions`` — stage change, as CRM stage histories export them (Salesforce
  OpportunityHistory: OpportunityId, StageName, CreatedDate, Amount). Each change opens a visit
  at the new step and closes the deal's open visit at the same instant; a change to a won or
  lost stage closes the open visit and sets the outcome; a later change to a step reopens the
  deal. Consecutive rows at the same stage (an amount change) open nothing.
* ``hs_contacts`` and ``sf_leads`` — HubSpot contacts with their lifecycle dates, Salesforce
  lead history (:mod:`.formats.hubspot_contacts`, :mod:`.formats.salesforce_leads`): each
  contact or lead is a case whose lifecycle stages or statuses map onto steps.
* ``wide`` — deal. Either HubSpot's ``Date entered "<stage>"`` columns (detected from the
  header; sorted by date they become transitions, so a deal's visits run from one stage's date
  to the next), or a simple export with an engage date, a close date and a final stage: one
  visit per deal from the engage date at the stream's first step (or the step the mapping
  gives for the engage date's column name), closed at the close date when the final stage is
  won or lost, open otherwise. A deal without an engage date (never engaged) is stored open
  without a visit; ``ImportResult.notes`` says so.

Stage names match step names case-insensitively; ``ImportOptions.steps`` maps others to a step
or to ``won`` / ``lost`` / ``ignore`` (rows skipped); obvious names (Won, Closed Won,
closedlost …) are outcomes, even beside a step of that name. Every stage that is none of these
is listed in one error.

Owners are members (username or email, or ``ImportOptions.owners`` mapping a name to one);
any other name is kept as ``Deal.owner_name``: a file is never refused for names.

Rules of the whole import:

* **All or nothing.** The file is read and checked completely first; any bad row rejects it,
  with every problem listed (:class:`RowError`: row as in the file with the header as row 1,
  column as headed in the file, reason). Then one transaction writes it: deals with
  ``bulk_create``, visits with PostgreSQL ``COPY`` (``bulk_create`` on SQLite).
* **Idempotent.** Deals are keyed on their external id. A deal whose fields and visits equal
  the file's is not touched; one that differs (its history grew) gets the file's version:
  unchanged visits keep their rows, changed ones are updated, new ones inserted, and visits
  the file no longer has are deleted. Deals of the stream that the file does not mention are
  left alone. Deal columns the file lacks keep their stored values.
* **Times.** ISO 8601 with or without offset, ``10/20/2016`` (``day_first`` for 20/10/2016),
  ``10/20/2016 2:05 PM``, ``20.10.2016 14:05``, ``2016/10/20``, epoch milliseconds (HubSpot)
  or seconds. Times without an offset are in ``ImportOptions.time_zone`` (zoneinfo); a time
  that does not exist there (a spring-forward gap) is an error, an ambiguous one (fall back)
  is taken as the first of the two. Times in the future are errors.
* **Safety.** Not a table (a PDF, image, archive, workbook, JSON, XML, one column), not
  UTF-8, empty, a NUL byte (its row named), duplicate headers, missing required columns, more
  than ``VSM_IMPORT_MAX_BYTES`` (200 MB) or ``VSM_IMPORT_MAX_COLUMNS`` (500): one clear
  message. Cells of the mapped columns that a spreadsheet would run as formulas
  (:mod:`funnel.exporting.csv_safety`: after blanks, ``=`` ``@`` or ``+``/``-`` before something
  that is not a plain number or date, full-width forms too) are row errors; a leading ``'`` that
  neutralises one (as the export writes) is removed.
* **Afterwards.** An import that wrote anything refreshes the planner's statistics and
  schedules the metrics recompute; one that changed nothing does neither.
* **Memory.** Rows are streamed from the file; visits are held as a few integer arrays (about
  60 bytes each) and written a chunk of deals at a time, never as model instances for all.

The package follows the import's stages: :mod:`.reading` (the file as a table),
:mod:`.cells` (one cell), :mod:`.mapping` (columns, stages, owners, mapping files),
:mod:`.checking` (every row, into a :mod:`.plan`), :mod:`.writing` (the difference to the
database) and :mod:`.uploads` (the entry points and the wizard's uploads); :mod:`.types`
holds what they share. Everything public is importable from ``funnel.importing``.
"""

from funnel.importing.cells import (
    NULL_TIME,
    from_micros,
    neutralise,
    to_micros,
    unneutralise,
)
from funnel.importing.formats.salesforce_leads import join_lead_export
from funnel.importing.mapping import (
    MAPPING_KEYS,
    MAX_OWNER_NAME,
    OWNER_NAMES_LISTED,
    OwnerName,
    guess_columns,
    load_mapping,
    obvious_outcome,
    options_with_mapping,
    source_key,
    source_owners,
    source_stages,
    stage_defaults,
    team_owners,
    unknown_stages,
)
from funnel.importing.plan import (
    changes_to_visits,
)
from funnel.importing.reading import (
    DEFAULT_MAX_COLUMNS,
    SCAN_VALUES,
    Table,
    column_values,
    max_import_bytes,
    max_import_columns,
    read_table,
    scan_as_json,
    scan_from_json,
)
from funnel.importing.types import (
    CHUNK_DEALS,
    CLOCK_SKEW,
    DEFAULT_MAX_BYTES,
    FIELDS,
    FORMATS,
    IGNORE,
    IMPORT_FORMATS,
    LEAD_FORMATS,
    LOST,
    MAX_ERRORS,
    WON,
    Field,
    ImportOptions,
    ImportRejected,
    ImportResult,
    Progress,
    RowError,
)
from funnel.importing.uploads import (
    READ_SLICE,
    UPLOAD_CHUNK,
    UPLOAD_HEAD,
    errors_csv,
    import_events,
    import_mapping_for,
    import_mapping_remember,
    import_upload_check,
    import_upload_create,
    import_upload_scan,
    import_upload_start,
    import_uploads_prune,
    upload_bytes,
    upload_file,
    upload_size,
    upload_table,
    validate,
)
from funnel.importing.writing import (
    _Writer,
)

__all__ = [
    "CHUNK_DEALS",
    "CLOCK_SKEW",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_COLUMNS",
    "FIELDS",
    "FORMATS",
    "IGNORE",
    "IMPORT_FORMATS",
    "LEAD_FORMATS",
    "LOST",
    "MAPPING_KEYS",
    "MAX_ERRORS",
    "MAX_OWNER_NAME",
    "NULL_TIME",
    "OWNER_NAMES_LISTED",
    "READ_SLICE",
    "SCAN_VALUES",
    "UPLOAD_CHUNK",
    "UPLOAD_HEAD",
    "WON",
    "Field",
    "ImportOptions",
    "ImportRejected",
    "ImportResult",
    "OwnerName",
    "Progress",
    "RowError",
    "Table",
    "_Writer",
    "changes_to_visits",
    "column_values",
    "errors_csv",
    "from_micros",
    "guess_columns",
    "import_events",
    "import_mapping_for",
    "import_mapping_remember",
    "import_upload_check",
    "import_upload_create",
    "import_upload_scan",
    "import_upload_start",
    "import_uploads_prune",
    "join_lead_export",
    "load_mapping",
    "max_import_bytes",
    "max_import_columns",
    "neutralise",
    "obvious_outcome",
    "options_with_mapping",
    "read_table",
    "scan_as_json",
    "scan_from_json",
    "source_key",
    "source_owners",
    "source_stages",
    "stage_defaults",
    "team_owners",
    "to_micros",
    "unknown_stages",
    "unneutralise",
    "upload_bytes",
    "upload_file",
    "upload_size",
    "upload_table",
    "validate",
]
