"""One module per file layout, each a ``read(builder)`` that turns the rows into visits or stage
changes: :mod:`.visits` (our export), :mod:`.transitions` (stage histories: Salesforce) and
:mod:`.wide` (one row per deal: HubSpot's "Date entered" columns, or engage/close dates).
"""
