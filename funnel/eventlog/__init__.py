"""The event log's writes and reads (docs/metrics.md §1): the services that create, move, work on
and close deals (:mod:`.services`), many events in one transaction (:mod:`.bulk`, the bulk API),
the path facts stored on each visit (:mod:`.paths`), who may see or change a deal and the reads
of deals and visits (:mod:`.selectors`), the database rules (:mod:`.rules`) and the one check of
a client's date or time (:mod:`.moments`). The tables themselves are ``funnel.models``.
"""
