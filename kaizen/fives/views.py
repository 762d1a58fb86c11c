"""The 5S pages of a stream (docs/five-s.md): the audit page (scores over time, the latest
findings, the questions), running or editing an audit, and the questions' editor.

Every member of the team reads; the team's managers run audits and edit the questions
(others get 403); another team's stream is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from funnel.common.pages import form_page
from kaizen.fives.charts import s_chart_html
from kaizen.fives.forms import AuditForm, QuestionAddForm, QuestionEditForm
from kaizen.fives.models import FiveS, FiveSAudit, FiveSQuestion
from kaizen.fives.selectors import (
    active_questions,
    audit_findings,
    audit_history,
    fives_can_run,
)
from kaizen.fives.services import (
    audit_create,
    audit_update,
    question_add,
    question_retire,
    question_update,
    questions_ensure,
)
from streams.forms import form_submit
from streams.models import ValueStream
from streams.selectors import visible_stream


def _stream(request: HttpRequest, slug: str, *, run: bool = False) -> ValueStream:
    stream = visible_stream(request.user, slug)
    if run and not fives_can_run(user=request.user, stream=stream):
        raise PermissionDenied("Only the team's managers run 5S audits and edit their questions.")
    return stream


def five_s_page(request: HttpRequest, slug: str) -> HttpResponse:
    stream = _stream(request, slug)
    audits = audit_history(stream)
    latest = audits[-1] if audits else None
    charts = [
        {"s": s, "label": label, "html": s_chart_html(audits, s)} for s, label in FiveS.choices
    ]
    return render(
        request,
        "kaizen/fives/page.html",
        {
            "stream": stream,
            "audits": list(reversed(audits)),
            "latest": latest,
            "findings": audit_findings(latest) if latest else [],
            "charts": charts if audits else [],
            "questions": active_questions(stream),
            "s_choices": FiveS.choices,
            "can_run": fives_can_run(user=request.user, stream=stream),
        },
    )


def _audit_form_page(
    request: HttpRequest, stream: ValueStream, audit: FiveSAudit | None
) -> HttpResponse:
    # A stream has its defaults from its creation (kaizen.apps); one that somehow has no
    # question shows the defaults unsaved, keyed by order, and gets them written by the post.
    by_order = not FiveSQuestion.objects.filter(stream=stream).exists()
    if request.method == "POST":
        questions_ensure(stream=stream)
    questions = active_questions(stream)
    form = AuditForm(request.POST or None, questions=questions, audit=audit, by_order=by_order)

    def save(data: dict) -> FiveSAudit:
        fields = {"audited_on": data["audited_on"], "note": data["note"]}
        if audit is None:
            return audit_create(user=request.user, stream=stream, answers=form.answers(), **fields)
        return audit_update(user=request.user, audit=audit, answers=form.answers(), **fields)

    def saved(done: FiveSAudit) -> HttpResponse:
        messages.success(request, f"Audit saved: {done.score:g} % overall.")
        return redirect("kaizen:five_s_audit", slug=stream.slug, pk=done.pk)

    template = "kaizen/fives/audit_form.html"
    return form_page(request, form, save, saved, template, {"stream": stream, "audit": audit})


def audit_new(request: HttpRequest, slug: str) -> HttpResponse:
    return _audit_form_page(request, _stream(request, slug, run=True), None)


def audit_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    stream = _stream(request, slug, run=True)
    return _audit_form_page(request, stream, get_object_or_404(stream.five_s_audits, pk=pk))


def audit_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    stream = _stream(request, slug)
    audit = get_object_or_404(stream.five_s_audits.select_related("auditor"), pk=pk)
    answers = list(audit.answers.all())
    groups = [
        {
            "label": label,
            "score": audit.s_score(s),
            "answers": [a for a in answers if a.s == s],
        }
        for s, label in FiveS.choices
    ]
    return render(
        request,
        "kaizen/fives/audit_detail.html",
        {
            "stream": stream,
            "audit": audit,
            "groups": groups,
            "can_run": fives_can_run(user=request.user, stream=stream),
            "plan_url": reverse("kaizen:new"),
        },
    )


def questions_page(request: HttpRequest, slug: str) -> HttpResponse:
    stream = _stream(request, slug, run=True)
    add_form = QuestionAddForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        ok, _ = form_submit(
            add_form,
            lambda data: question_add(
                user=request.user, stream=stream, s=data["s"], text=data["text"]
            ),
        )
        if ok:
            messages.success(request, "Question added.")
            return redirect("kaizen:five_s_questions", slug=stream.slug)
    return _questions_render(request, stream, add_form=add_form)


def _questions_render(
    request: HttpRequest,
    stream: ValueStream,
    *,
    add_form: QuestionAddForm | None = None,
    edit_form: QuestionEditForm | None = None,
    edited: int | None = None,
) -> HttpResponse:
    rows = [
        {
            "question": q,
            "form": edit_form
            if q.pk == edited
            else QuestionEditForm(initial={"text": q.text}, auto_id=f"q{q.pk}_%s"),
        }
        for q in active_questions(stream)
    ]
    bound = (add_form is not None and add_form.is_bound) or edit_form is not None
    return render(
        request,
        "kaizen/fives/questions.html",
        {"stream": stream, "rows": rows, "add_form": add_form or QuestionAddForm()},
        status=400 if bound else 200,
    )


def _question(request: HttpRequest, slug: str, pk: int) -> tuple[ValueStream, FiveSQuestion]:
    stream = _stream(request, slug, run=True)
    return stream, get_object_or_404(stream.five_s_questions, pk=pk, retired_at__isnull=True)


@require_POST
def question_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    stream, question = _question(request, slug, pk)
    form = QuestionEditForm(request.POST, auto_id=f"q{pk}_%s")
    ok, _ = form_submit(
        form, lambda data: question_update(user=request.user, question=question, text=data["text"])
    )
    if ok:
        messages.success(request, "Question saved.")
        return redirect("kaizen:five_s_questions", slug=stream.slug)
    return _questions_render(request, stream, edit_form=form, edited=pk)


@require_POST
def question_retire_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    stream, question = _question(request, slug, pk)
    ok, _ = form_submit(
        form := QuestionEditForm({"text": question.text}, auto_id=f"q{pk}_%s"),
        lambda data: question_retire(user=request.user, question=question),
    )
    if ok:
        messages.success(request, "Question retired; the audits that asked it keep it.")
        return redirect("kaizen:five_s_questions", slug=stream.slug)
    return _questions_render(request, stream, edit_form=form, edited=pk)
