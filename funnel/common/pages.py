"""What the pages of the funnel's capabilities share: a form's page (:func:`form_page`) and a
button's post (:func:`button_post`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from streams.forms import form_submit

T = TypeVar("T")


def form_page(
    request: HttpRequest,
    form: forms.Form,
    save: Callable[[dict], T],
    saved: Callable[[T], HttpResponse],
    template: str,
    context: dict[str, Any],
) -> HttpResponse:
    """A form's page. A POST runs ``save(cleaned data)`` (one service call, through
    ``streams.forms.form_submit``) and, when it ran, answers ``saved(what it returned)`` (its
    message and the redirect). Else ``template`` with ``context`` and ``form``: the form with
    its reasons after a refused POST (status 400), or the empty form (a GET)."""
    if request.method == "POST":
        ok, result = form_submit(form, save)
        if ok:
            return saved(result)
    return render(
        request,
        template,
        {"form": form, **context},
        status=400 if request.method == "POST" else 200,
    )


def button_post(
    request: HttpRequest,
    call: Callable[[], T],
    done: str | Callable[[T], str],
    back: HttpResponse,
) -> HttpResponse:
    """A button's post: one service call (``call``). A refusal comes back as an error message
    (the service's reasons), else ``done`` as a success message (a text, or made from what the
    call returned); then ``back``, the redirect to the page of the button."""
    try:
        result = call()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done(result) if callable(done) else done)
    return back
