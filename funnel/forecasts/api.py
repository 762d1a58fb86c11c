"""The Forecast read API (docs/forecasts.md "API"): a stream's forecast view and its per-deal
rows, read from the view's snapshot (``funnel.forecasts.snapshots``): 200 with the result when
it is computed (``stale`` while a newer one is), 202 with the job while the first one is, 400
naming a bad parameter, 404 for a stream of another team. Every member of the team reads the
stream's totals; a rep's per-deal rows are their own deals only.

- ``GET /api/streams/{id}/forecast/``: the whole view (fan, wins and revenue by the date,
  when N more wins, target attainment, track record, the deals);
- ``GET /api/streams/{id}/forecast/deals/``: only the per-deal rows.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from funnel.api.snapshot_reads import rep_id, snapshot_schema, stream_snapshot_read
from funnel.dashboards.forecast import forecast_for
from funnel.forecasts.models import ForecastSnapshot
from funnel.forecasts.snapshots import read_forecast
from streams.models import ValueStream

_Int = serializers.IntegerField


def _float(help_text: str = "", **kwargs) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text, **kwargs)


def _pair(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        min_length=2,
        max_length=2,
        help_text=help_text,
    )


#: The ``[low, high]`` holding 50, 85 and 95 % of the simulated futures ("50" is no Python
#: name, so the fields are given as a mapping).
BandsSerializer = type(
    "ForecastBandsSerializer",
    (serializers.Serializer,),
    {
        "50": _pair("The middle half of the futures."),
        "85": _pair("85 % of the futures."),
        "95": _pair("95 % of the futures."),
    },
)


class SpreadSerializer(serializers.Serializer):
    mean = _float()
    median = _float()
    bands = BandsSerializer()


#: The day by which 50, 85 and 95 % of the futures got there (null: too few did).
CloseDatesSerializer = type(
    "ForecastDatesSerializer",
    (serializers.Serializer,),
    {key: serializers.DateField(allow_null=True) for key in ("50", "85", "95")},
)


class ForecastDealSerializer(serializers.Serializer):
    deal = _Int()
    name = serializers.CharField()
    owner = _Int(allow_null=True, help_text="The owner's user id.")
    step = _Int()
    step_name = serializers.CharField()
    amount = _float()
    win_probability = serializers.FloatField(help_text="0 to 1.")
    source = serializers.ChoiceField(
        choices=["flow", "lab"],
        help_text="Whose chance of winning: the lab's calibrated model or the measured flow "
        "(the timing is always the flow's).",
    )
    close = CloseDatesSerializer()


class ForecastWinsBySerializer(serializers.Serializer):
    by = serializers.DateField(help_text="Counted to the end of this day (the stream's zone).")
    wins = SpreadSerializer()
    revenue = SpreadSerializer()


class ForecastFanPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    median = _float()
    bands = BandsSerializer()


class ForecastReachedBySerializer(serializers.Serializer):
    n = _Int()
    reached_by = CloseDatesSerializer(help_text="The day N more wins are reached by.")
    share_reached = serializers.FloatField(help_text="Futures reaching N within the horizon.")


class ForecastTargetSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    target = _Int()
    won_so_far = _Int()
    expected = _float("Expected wins in the period by its end (so far and to come).")
    median = _float()
    probability = _float("The chance of reaching the target.")
    bands = BandsSerializer()


class ForecastBacktestPointSerializer(serializers.Serializer):
    date = serializers.DateTimeField(help_text="When the back-tested forecast was made.")
    actual = _Int(allow_null=True)
    median = _float()
    bands = BandsSerializer()


class ForecastStoredScoresSerializer(serializers.Serializer):
    count = _Int()
    coverage = serializers.DictField(child=_float(), help_text='By band: "50", "85", "95".')


class ForecastFigureRecordSerializer(serializers.Serializer):
    """One figure's back-tests."""

    name = serializers.CharField()
    count = _Int()
    coverage = serializers.DictField(child=_float(), help_text='By band: "50", "85", "95".')
    typical_error = _float("Revenue: in the stream's currency; when N more wins: in hours.")
    verdicts = serializers.ListField(child=serializers.CharField())


class ForecastNeededRecordSerializer(ForecastFigureRecordSerializer):
    n = _Int(allow_null=True)


class ForecastCloseDatesRecordSerializer(ForecastFigureRecordSerializer):
    """Each deal's close dates, back-tested: at each back-test date, the deals open then whose
    forecast gave close dates (given won) against how they ended."""

    count = _Int(
        help_text="Deal close dates scored over the dates (a deal open at several dates counts "
        "at each): won since, or still open past the 95 % band's upper end."
    )
    coverage = serializers.DictField(
        child=_float(),
        help_text='By band ("50", "85", "95"): the share of the scored deals that closed inside '
        "it (a deal still open past the 95 % band's upper end counts as outside every band).",
    )
    typical_error = _float(
        "The median, over the won deals, of |close − median forecast close|, in days."
    )
    open_outside = _Int(help_text="Still open past the 95 % band's upper end: counted outside.")
    censored = _Int(help_text="Still open, not yet past the 95 % band's upper end: left out.")
    lost = _Int(help_text="Lost since: left out (the close dates are given a win).")
    no_dates = _Int(help_text="Never won in the simulation, so without close dates: left out.")


class ForecastTrackRecordSerializer(serializers.Serializer):
    count = _Int(help_text="Back-tests.")
    coverage = serializers.DictField(
        child=_float(), help_text='By band ("50", "85", "95"): the share that held the actual.'
    )
    typical_error = _float("The median absolute error of the median, in wins.")
    verdicts = serializers.ListField(
        child=serializers.CharField(), help_text="Every figure's, each naming its figure."
    )
    revenue = ForecastFigureRecordSerializer(required=False)
    needed = ForecastNeededRecordSerializer(
        required=False, allow_null=True, help_text="The date of N more wins."
    )
    close_dates = ForecastCloseDatesRecordSerializer(
        required=False,
        allow_null=True,
        help_text="Each deal's close dates (null in a track record computed before they were "
        "back-tested).",
    )
    points = ForecastBacktestPointSerializer(many=True)
    stored = ForecastStoredScoresSerializer(help_text="Forecasts stored in production, scored.")


class ForecastViewParamsSerializer(serializers.Serializer):
    key = serializers.CharField()
    by = serializers.DateField(allow_null=True)
    when_wins = _Int(allow_null=True)
    as_of = serializers.DateTimeField(allow_null=True)
    runs = _Int()


class ForecastResultSerializer(serializers.Serializer):
    format = _Int()
    view = ForecastViewParamsSerializer()
    as_of = serializers.DateTimeField()
    basis = serializers.ChoiceField(choices=["elapsed", "working"])
    runs = _Int()
    seed = _Int()
    outcome_source = serializers.ChoiceField(choices=["flow", "lab", "mixed"])
    lab_note = serializers.CharField(allow_blank=True)
    deals = ForecastDealSerializer(many=True, help_text="A rep: their own deals only.")
    wins_by = ForecastWinsBySerializer()
    fan = ForecastFanPointSerializer(many=True)
    wins_needed = ForecastReachedBySerializer()
    target = ForecastTargetSerializer(allow_null=True)
    track_record = ForecastTrackRecordSerializer(allow_null=True)


class ForecastDealsResultSerializer(serializers.Serializer):
    format = _Int()
    view = ForecastViewParamsSerializer()
    as_of = serializers.DateTimeField()
    outcome_source = serializers.ChoiceField(choices=["flow", "lab", "mixed"])
    lab_note = serializers.CharField(allow_blank=True)
    deals = ForecastDealSerializer(many=True, help_text="A rep: their own deals only.")


PARAMETERS = [
    OpenApiParameter(
        "by",
        str,
        description="The day the wins and revenue are counted to (YYYY-MM-DD, the stream's "
        "zone), from the forecast's day up to two years ahead. Default: the quarter's end.",
    ),
    OpenApiParameter(
        "when_wins",
        int,
        description="N of 'when will we reach N more wins?' (1 to 10,000). Default: what is "
        "left to the target, else 10.",
    ),
    OpenApiParameter(
        "as_of",
        str,
        description="Forecast with the log as it stood at this instant (ISO 8601, UTC unless "
        "it says; not in the future). Default: now.",
    ),
    OpenApiParameter("runs", int, description="Simulated futures, 100 to 10,000 (default)."),
]


class _ForecastRead(APIView):
    keys: tuple[str, ...] = ()

    def get(self, request: Request, pk: int) -> Response:
        def result(stream: ValueStream, snapshot: ForecastSnapshot) -> dict:
            seen = forecast_for(snapshot.result, rep_id=rep_id(request.user, stream))
            return {k: seen.get(k) for k in self.keys}

        return stream_snapshot_read(request, pk, read_forecast, result)


def _schema(name: str, operation: str, result, summary: str, description: str):
    return snapshot_schema(
        name,
        result,
        computing="The forecast's first result is being computed.",
        failed="Computing the forecast failed.",
        operation_id=operation,
        summary=summary,
        description=description
        + " Computed by a background job into a snapshot (docs/forecasts.md): 202 with the "
        "job while the first result is computed; 200 with `stale` true while a newer one is. "
        "Any member of the team may read; a rep's deals are their own.",
        parameters=PARAMETERS,
    )


class StreamForecastView(_ForecastRead):
    """A stream's forecast view."""

    keys = tuple(ForecastResultSerializer().fields)

    @_schema(
        "Forecast",
        "streams_forecast_retrieve",
        ForecastResultSerializer,
        "Forecast of a stream",
        "Wins and revenue by a date with 50/85/95 % bands, the fan of cumulative wins, when N "
        "more wins are reached, target attainment, each open deal's win probability and close "
        "dates, and the back-tests' track record (band coverage, typical error, verdicts).",
    )
    def get(self, request: Request, pk: int) -> Response:
        return super().get(request, pk)


class StreamForecastDealsView(_ForecastRead):
    """Each open deal's forecast in a stream."""

    keys = tuple(ForecastDealsResultSerializer().fields)

    @_schema(
        "ForecastDeals",
        "streams_forecast_deals_retrieve",
        ForecastDealsResultSerializer,
        "Per-deal forecasts of a stream",
        "Each open deal's win probability and close dates (50/85/95 %), and whether the lab's "
        "calibrated model or the measured flow gave its chance of winning.",
    )
    def get(self, request: Request, pk: int) -> Response:
        return super().get(request, pk)
