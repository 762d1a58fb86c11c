"""Tests of the forecasts (issue 19, docs/forecasts.md)."""
