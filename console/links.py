"""Pages the e-mailed links open, and the landing page at `/`.

The verification and password-reset e-mails link to FRONTEND_URL/verify-email and
/reset-password (accounts.emails). Opening a link shows a small form; only its POST uses
the token, so a link scanner or a mail preview that GETs the link consumes nothing. The
page then says what happened and where to go next. The token rules are the services'
(accounts.services), the same as the API's.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from accounts import services
from core.exceptions import DomainError

TOKEN_MAX = 200


class TokenForm(forms.Form):
    token = forms.CharField(max_length=TOKEN_MAX, widget=forms.HiddenInput)


class NewPasswordForm(TokenForm):
    new_password = forms.CharField(label="New password", max_length=4096, strip=False, widget=forms.PasswordInput)
    repeat = forms.CharField(label="Repeat it", max_length=4096, strip=False, widget=forms.PasswordInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("new_password") and cleaned.get("new_password") != cleaned.get("repeat"):
            raise forms.ValidationError("The two passwords differ.")
        if cleaned.get("new_password"):
            try:
                validate_password(cleaned["new_password"])
            except DjangoValidationError as exc:
                self.add_error("new_password", exc)
        return cleaned


def _domain_message(exc: DomainError) -> str:
    return exc.message if exc.code != "validation_error" else "The link is not valid."


def landing(request):
    return render(request, "pages/landing.html")


@require_http_methods(["GET", "POST"])
def verify_email(request):
    if request.method == "GET":
        form = TokenForm(initial={"token": request.GET.get("token", "")})
        missing = not request.GET.get("token")
        return render(request, "pages/verify_email.html", {"form": form, "missing": missing})
    form = TokenForm(request.POST)
    if not form.is_valid():
        return render(request, "pages/link_outcome.html", _failed("The link is not valid."), status=400)
    try:
        user = services.email_verify(token=form.cleaned_data["token"], request=request)
    except DomainError as exc:
        return render(request, "pages/link_outcome.html", _failed(_domain_message(exc)), status=exc.status_code)
    return render(
        request,
        "pages/link_outcome.html",
        {
            "title": "Address confirmed",
            "ok": True,
            "message": f"{user.email} is confirmed. You can log in now.",
            "next_steps": "log_in",
        },
    )


@require_http_methods(["GET", "POST"])
def reset_password(request):
    if request.method == "GET":
        form = NewPasswordForm(initial={"token": request.GET.get("token", "")})
        return render(request, "pages/reset_password.html", {"form": form, "missing": not request.GET.get("token")})
    form = NewPasswordForm(request.POST)
    if not form.is_valid():
        return render(request, "pages/reset_password.html", {"form": form}, status=400)
    try:
        services.password_reset_confirm(
            token=form.cleaned_data["token"], new_password=form.cleaned_data["new_password"], request=request
        )
    except DomainError as exc:
        if exc.code == "validation_error":  # the password broke a rule: the form again
            for messages in exc.details.values():
                form.add_error("new_password", messages)
            return render(request, "pages/reset_password.html", {"form": form}, status=400)
        return render(request, "pages/link_outcome.html", _failed(_domain_message(exc), reset=True), status=400)
    return render(
        request,
        "pages/link_outcome.html",
        {
            "title": "Password changed",
            "ok": True,
            "message": "Your new password is set, and every session of the account was signed out.",
            "next_steps": "log_in",
        },
    )


def _failed(message: str, *, reset: bool = False) -> dict:
    return {
        "title": "This link did not work",
        "ok": False,
        "message": message,
        "next_steps": "reset" if reset else "resend",
    }
