"""Admin console forms: the login form with a one-time code field, and the forms used to
create users and invitations (saved through the services, never by the ModelForm)."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.utils import timezone

from accounts.models import Invitation, Role, User
from core.exceptions import AccountLocked, EmailUnverified, OtpRequired


class AdminLoginForm(AdminAuthenticationForm):
    """E-mail, password and, for accounts with two-factor on, the current code."""

    otp = forms.CharField(
        label="One-time code",
        required=False,
        max_length=12,
        help_text="Only if two-factor authentication is on for your account.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            self.user_cache = authenticate(
                self.request, username=username, password=password, otp=self.cleaned_data.get("otp") or None
            )
            if self.user_cache is None:
                error = getattr(self.request, "login_error", None)
                if isinstance(error, AccountLocked | OtpRequired | EmailUnverified):
                    raise forms.ValidationError(error.message, code=error.code)
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class UserAddForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Optional: without one, the user receives a one-time link to choose a password.",
    )

    class Meta:
        model = User
        fields = ["email", "name", "role", "is_staff"]

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError("A user with this e-mail already exists.")
        return email

    def clean_password(self):
        password = self.cleaned_data.get("password")
        if password:
            validate_password(password, User(email=self.data.get("email", ""), name=self.data.get("name", "")))
        return password


class UserChangeForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name", "role", "is_active", "verified", "is_staff"]


class InvitationAddForm(forms.ModelForm):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.USER)

    class Meta:
        model = Invitation
        fields = ["role", "max_uses", "expires_at"]
        help_texts = {"expires_at": "Leave empty for 7 days from now."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "expires_at" in self.fields:  # the add form; the change page is read-only
            self.fields["expires_at"].required = False

    def clean_max_uses(self):
        value = self.cleaned_data["max_uses"]
        if not 1 <= value <= 10_000:
            raise forms.ValidationError("Between 1 and 10000.")
        return value

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("Must be in the future.")
        return value
