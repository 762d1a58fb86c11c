"""The metrics engine: every figure of metrics.md §2–5.

- ``query``: what is asked (stream, window, filters);
- ``engine``: how every figure is computed (:func:`compute_metrics`);
- ``results``: the figures as dataclasses, with the sample size behind each;
- ``stats``: the pure math (percentiles, Little's law, step takt);
- ``sql``: the bits of SQL the two databases spell differently;
- ``snapshots``: storing results and reading them back (pages read only these).
"""
