"""Export of a stream's event log: CSV (:mod:`funnel.exporting.csv_export`, what the import
reads back) and XES for process-mining tools (:mod:`funnel.exporting.xes`). The rule that keeps
spreadsheet formulas out of every CSV the product writes is :mod:`funnel.exporting.csv_safety`.
"""
