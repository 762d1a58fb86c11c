"""The tables of forecasts (docs/forecasts.md): the Forecast dashboard's snapshots and the
forecasts made in production, stored to be scored when their horizon has passed."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from funnel.view_jobs import ViewSnapshot, view_unique
from streams.models import ValueStream
from vsm_project.db import choices_check


class ForecastSnapshot(ViewSnapshot):
    """One forecast view's results (``result``: docs/forecasts.md "The forecast payload"). Its
    ``view_key`` names the view (``by``, ``when_wins``, ``as_of``, ``runs``), or, for a cached
    back-test, ``backtest|…`` (docs/forecasts.md "Back-tests on the page")."""

    label = "forecast"
    stream = models.ForeignKey(ValueStream, models.CASCADE, related_name="forecast_snapshots")

    class Meta:
        constraints = [view_unique("forecast_snapshot_view_unique")]


class RecordKind(models.TextChoices):
    WINS = "wins", "Wins"
    REVENUE = "revenue", "Revenue"


class ForecastRecord(models.Model):
    """A forecast as it was made (the stream's default forecast, once a week), kept so it is
    scored when its horizon has passed: ``actual`` is what the log then says happened in
    ``(made_at, horizon_end]``. One per stream, week and kind."""

    stream = models.ForeignKey(
        ValueStream, on_delete=models.CASCADE, related_name="forecast_records"
    )
    #: The Monday (UTC) of the week the forecast was made in: one record per week.
    week = models.DateField()
    kind = models.CharField(max_length=10, choices=RecordKind.choices)
    made_at = models.DateTimeField()
    #: The forecast counts what is won in ``(made_at, horizon_end]``.
    horizon_end = models.DateTimeField()
    runs = models.PositiveIntegerField()
    mean = models.FloatField(null=True, blank=True)
    median = models.FloatField()
    low_50 = models.FloatField()
    high_50 = models.FloatField()
    low_85 = models.FloatField()
    high_85 = models.FloatField()
    low_95 = models.FloatField()
    high_95 = models.FloatField()
    #: What happened (None until the horizon has passed and the record is scored).
    #: Wins only: the chance, across the runs, that the quarter's won deals reach the stream's
    #: target (the Forecast view's target attainment); null without a target, or for records
    #: made before it was stored. The cockpit compares it with the week before.
    target_probability = models.FloatField(null=True, blank=True)
    actual = models.FloatField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "week", "kind"], name="forecast_record_week_unique"
            ),
            choices_check("kind", RecordKind, "forecast_record_kind_valid"),
            models.CheckConstraint(
                condition=Q(horizon_end__gt=models.F("made_at")),
                name="forecast_record_horizon_after_made",
            ),
        ]
        indexes = [
            models.Index(
                fields=["horizon_end"],
                condition=Q(actual__isnull=True),
                name="forecast_record_unscored",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} forecast of {self.stream} made {self.made_at:%Y-%m-%d}"

    def band(self, level: int) -> tuple[float, float]:
        return getattr(self, f"low_{level}"), getattr(self, f"high_{level}")
