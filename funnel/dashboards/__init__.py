"""The dashboards (``/dashboards/``): the pages and CSV downloads (:mod:`.views`), the filters read
from the URL (:mod:`.params`), what each dashboard shows (:mod:`.content`: which snapshots, which
charts and tiles) and the charts themselves, one module per dashboard (:mod:`.charts`).
"""
