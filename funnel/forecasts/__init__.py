"""Forecasts from the measured flow (issue 19; docs/forecasts.md): the stream's behaviour
(``model``), the deal-level Monte Carlo (``simulation``) and the pipeline forecasts built on
its runs (``pipeline``)."""
