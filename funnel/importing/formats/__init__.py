"""One module per file layout, each a ``read(builder)`` that turns the rows into visits or stage
changes: :mod:`.visits` (our export), :mod:`.transitions` (stage histories: Salesforce),
:mod:`.wide` (one row per deal: HubSpot's "Date entered" columns, or engage/close dates), and
the lead exports: :mod:`.hubspot_contacts` (HubSpot contacts with their lifecycle dates) and
:mod:`.salesforce_leads` (Salesforce lead history). :mod:`.xes` reads an XES event log as a
table of visits (start and complete events) or of stage changes (complete events only).
"""
