"""Forms of the kaizen pages. They check types and convert units (shares are typed in
percent); the rules live in ``kaizen.services``."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from kaizen.metrics import METRICS, spec
from kaizen.models import Direction, KaizenCycle, Metric
from kaizen.services import MAX_WINDOW_DAYS, MIN_WINDOW_DAYS, PLAN_FIELDS
from streams.forms import apply_service_errors
from streams.models import ValueStream

TEXTAREA = forms.Textarea(attrs={"rows": 3})
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
#: A decimal typed as text with the decimal keyboard: a browser empties a number input it
#: cannot read, so a refused value would come back blank instead of as typed.
DECIMAL = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})

#: Service field names shown on another form field.
SERVICE_FIELD = {"step": "where", "stream": "where", "planned_on": "where"}


def show_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's ``ValidationError({field: reason})`` next to the form's fields."""
    if hasattr(exc, "error_dict"):
        exc = ValidationError(
            {SERVICE_FIELD.get(name, name): errors for name, errors in exc.error_dict.items()}
        )
    apply_service_errors(form, exc)


def where_choices(streams: list[ValueStream]) -> list:
    """A stream, or one of its steps, grouped by stream: ``"<stream>"`` / ``"<stream>:<step>"``."""
    choices: list = [("", "Choose the stream or step")]
    for stream in streams:
        options = [(f"{stream.pk}", f"{stream.name}: the whole stream")]
        options += [
            (f"{stream.pk}:{step.pk}", f"{step.position}. {step.name}")
            for step in stream.steps.order_by("position")
        ]
        choices.append((stream.name, options))
    return choices


def metric_help() -> str:
    items = "".join(
        f"<li><strong>{m.label}</strong> ({'a step' if m.scope == 'step' else 'the stream'}): "
        f"{m.explanation}</li>"
        for m in METRICS.values()
    )
    return f"<ul>{items}</ul>"


class _Form(forms.Form):
    """Ids prefixed with the form's name (``prefix_id``), so the several forms of the cycle
    page never share an id while their fields keep plain names."""

    prefix_id = "form"

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", f"{self.prefix_id}_%s")
        super().__init__(*args, **kwargs)


class PlanForm(_Form):
    """A new plan, or changes to one (``cycle`` given: its stream is fixed)."""

    prefix_id = "plan"

    where = forms.ChoiceField(
        label="Where",
        help_text="The step the problem is at (it gets a kaizen burst on the map while the "
        "cycle is open), or the whole stream for the sales cycle and win rate.",
    )
    title = forms.CharField(max_length=200, help_text="What is being improved, in a few words.")
    problem = forms.CharField(
        label="Problem statement",
        widget=TEXTAREA,
        required=False,
        help_text="What hurts, where, since when, for whom.",
    )
    current_condition = forms.CharField(
        widget=TEXTAREA,
        required=False,
        help_text="How the work is done today. The baseline figure is measured for you.",
    )
    metric = forms.ChoiceField(
        choices=Metric.choices,
        help_text="The figure the Check compares before and after the change.",
    )
    direction = forms.ChoiceField(
        label="Better is",
        required=False,
        choices=[("", "The usual way (shorter times, higher shares)"), *Direction.choices],
    )
    target_value = forms.FloatField(
        required=False,
        label="Target value",
        help_text="Hours for time in step, days for the sales cycle, percent for %C&amp;A, "
        "conversion and win rate.",
        widget=DECIMAL,
    )
    target_date = forms.DateField(required=False, widget=DATE, help_text="When it should be met.")
    root_cause = forms.CharField(
        label="Root cause (five whys)",
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="Ask why five times, one answer a line.",
    )
    countermeasure = forms.CharField(
        widget=TEXTAREA, required=False, help_text="The change you will make."
    )
    prediction = forms.CharField(
        widget=TEXTAREA,
        required=False,
        help_text="What you expect the figure to do, and by when. Written before the change.",
    )
    window_days = forms.IntegerField(
        label="Check window (days)",
        min_value=MIN_WINDOW_DAYS,
        max_value=MAX_WINDOW_DAYS,
        initial=56,
        help_text="The Check compares this many days before the change with as many after.",
    )
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Me")

    def __init__(
        self,
        *args,
        streams: list[ValueStream],
        owners=None,
        cycle: KaizenCycle | None = None,
        **kwargs,
    ) -> None:
        if cycle is not None and "initial" not in kwargs and not args:
            kwargs["initial"] = self.initial_from(cycle)
        super().__init__(*args, **kwargs)
        self.streams = {stream.pk: stream for stream in streams}
        self.fields["where"].choices = where_choices(streams)
        self.fields["metric"].help_text += metric_help()
        if owners is None:
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = owners
            self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username

    @staticmethod
    def initial_from(cycle: KaizenCycle) -> dict:
        metric = spec(cycle.metric)
        target = cycle.target_value
        if target is not None and metric.is_proportion:
            target = round(target * 100, 4)
        return {
            "where": f"{cycle.stream_id}:{cycle.step_id}"
            if cycle.step_id
            else f"{cycle.stream_id}",
            "title": cycle.title,
            "problem": cycle.problem,
            "current_condition": cycle.current_condition,
            "metric": cycle.metric,
            "direction": "" if cycle.direction == metric.better else cycle.direction,
            "target_value": target,
            "target_date": cycle.target_date,
            "root_cause": cycle.root_cause,
            "countermeasure": cycle.countermeasure,
            "prediction": cycle.prediction,
            "window_days": cycle.window_days,
            "owner": cycle.owner_id,
        }

    def clean(self) -> dict:
        data = super().clean()
        where = data.get("where")
        if where:
            stream_id, _, step_id = where.partition(":")
            stream = self.streams.get(int(stream_id))
            step = stream.steps.filter(pk=int(step_id)).first() if stream and step_id else None
            if stream is None or (step_id and step is None):
                self.add_error("where", "Choose a stream or step from the list.")
            data["stream"], data["step"] = stream, step
        metric = data.get("metric")
        target = data.get("target_value")
        if metric and target is not None and spec(metric).is_proportion:
            if not 0 <= target <= 100:
                self.add_error("target_value", "A percentage is between 0 and 100.")
            else:
                data["target_value"] = target / 100.0
        return data

    def plan_fields(self) -> dict:
        """The cleaned values as the services name them."""
        data = self.cleaned_data
        fields = {name: data[name] for name in PLAN_FIELDS if name != "owner"}
        fields["direction"] = fields["direction"] or None
        if "owner" in self.fields and data.get("owner") is not None:
            fields["owner"] = data["owner"]
        return fields


class DoNotesForm(_Form):
    """The notes of Do, kept while the change runs."""

    prefix_id = "notes"
    change_description = forms.CharField(label="What was done", widget=TEXTAREA, required=False)
    do_notes = forms.CharField(label="Notes", widget=TEXTAREA, required=False)


class DoForm(DoNotesForm):
    """Plan → Do: the day the change started, then the same notes as :class:`DoNotesForm`."""

    prefix_id = "do"
    field_order = ["change_date"]
    change_date = forms.DateField(
        label="The change started on",
        widget=DATE,
        help_text="The day the new way of working began (not in the future).",
    )


OVERRIDE_HELP = (
    "The Check has too little data to say whether the change worked. Say why the team acts "
    "anyway; the reason is kept on the cycle, and an adoption is labelled “adopted without "
    "evidence” and left out of the measured figures."
)


def _override_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label, widget=TEXTAREA, required=False, max_length=2000, help_text=OVERRIDE_HELP
    )


class _DecisionForm(_Form):
    """A decision the Check should back (moving to Act, adopting): its ``override_reason``
    field is asked for only when the Check has insufficient data (the service decides; the
    field is shown then)."""

    def __init__(self, *args, needs_override: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not needs_override:
            del self.fields["override_reason"]


class ActForm(_DecisionForm):
    """Check → Act."""

    prefix_id = "act"
    override_reason = _override_field("Why act without evidence")


class AdoptForm(_DecisionForm):
    prefix_id = "adopt"
    standard = forms.CharField(
        label="The new standard",
        widget=TEXTAREA,
        help_text="What everyone now does, so it sticks.",
    )
    planned_value = forms.FloatField(
        required=False,
        widget=DECIMAL,
    )

    override_reason = _override_field("Why adopt without evidence")

    def __init__(self, *args, cycle: KaizenCycle, needs_override: bool = False, **kwargs) -> None:
        super().__init__(*args, needs_override=needs_override, **kwargs)
        if needs_override:
            self.fields["override_reason"].initial = cycle.evidence_override
        metric = spec(cycle.metric)
        if metric.map_field is None or cycle.step_id is None:
            del self.fields["planned_value"]
            return
        field = self.fields["planned_value"]
        if metric.map_field == "planned_lead_hours":
            field.label = (
                f"Planned lead time of “{cycle.step.name}” on the future-state map (hours)"
            )
        else:
            field.label = f"Planned %C&A of “{cycle.step.name}” on the future-state map (%)"
        field.help_text = (
            "Suggested: the measured value after the change. Leave empty to record the standard "
            "in words only."
        )


class AdaptForm(_Form):
    prefix_id = "adapt"
    notes = forms.CharField(
        label="What the follow-up changes",
        widget=TEXTAREA,
        help_text="It becomes the follow-up cycle's countermeasure.",
    )
    title = forms.CharField(
        label="Title of the follow-up",
        max_length=200,
        required=False,
        help_text="Empty: this cycle's title with “(follow-up)”.",
    )


class AbandonForm(_Form):
    prefix_id = "abandon"
    reason = forms.CharField(
        label="Why abandon it", widget=TEXTAREA, help_text="What was learned, for the next plan."
    )


class CommentForm(_Form):
    prefix_id = "comment"
    body = forms.CharField(
        label="Comment", widget=forms.Textarea(attrs={"rows": 3}), max_length=4000
    )


class BoardFilterForm(forms.Form):
    stream = forms.ModelChoiceField(queryset=None, required=False, empty_label="All streams")
    owner = forms.ModelChoiceField(queryset=None, required=False, empty_label="Everyone")

    def __init__(self, *args, streams, owners, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = streams
        self.fields["owner"].queryset = owners
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username
