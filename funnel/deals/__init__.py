"""The rep pages (``/deals/``): the deals list with its search, filters and sort (:mod:`.filters`),
a deal's page with its quick actions, creating, editing, closing, undoing and reopening
(:mod:`.views`), and their forms (:mod:`.forms`). Every write goes through
``funnel.eventlog.services``.
"""
