"""Process discovery and conformance (issue 18, docs/discovery.md): the process as the deals
really ran it, held against the map the team drew.

- ``log``: the traces of a view (a deal's visits in path order, with the stored path facts);
- ``graph``: the directly-follows graph, starts and ends, variants and rework loops;
- ``conformance``: each trace checked against the map's step order, fitness, the deviation
  catalogue with its weekly trend and cost;
- ``models``: the Discovery snapshot and the accepted deviations;
- ``snapshots``: the background job that computes a view into its snapshot;
- ``drawing``: the directly-follows graph as SVG, in the map's step order;
- ``api``: the read API of the graph, the variants and the deviations.
"""
