"""Forms of the sign-in, password reset and two-factor pages."""

from __future__ import annotations

from django import forms
from django.contrib.auth import forms as auth_forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts import hooks


class LoginForm(forms.Form):
    email = forms.CharField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class OtpForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=20,
        help_text=_("The 6-digit code from your authenticator app, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "autofocus": True,
                "spellcheck": "false",
            }
        ),
    )


class ReauthForm(forms.Form):
    """The acting person's password and current code, asked again in the same form before an
    e-mail address, phone number or authenticator changes (accounts/services/reauth.py)."""

    reauth_password = forms.CharField(
        label=_("Your password"),
        required=False,
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    reauth_code = forms.CharField(
        label=_("Your authenticator code"),
        required=False,
        max_length=20,
        help_text=_("The 6-digit code from your authenticator app, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "spellcheck": "false"}
        ),
    )

    REAUTH_FIELDS = ("reauth_password", "reauth_code")

    def reauth_values(self) -> dict[str, str]:
        data = getattr(self, "cleaned_data", {})
        return {"password": data.get("reauth_password", ""), "code": data.get("reauth_code", "")}


class OtpSetupForm(OtpForm):
    """Enrolment: the first code of the new authenticator, and the person's password again.

    There are no backup codes yet at this point: the code is the new app's current one.
    """

    reauth_password = ReauthForm.base_fields["reauth_password"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["token"].help_text = _("The 6-digit code your authenticator app shows now.")


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form, finding the user by the e-mail blind index (addresses are
    encrypted at rest) and sending the link through the outbox in the user's language."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    # At most this many reset mails per address, and requests per client address, an hour.
    PER_ADDRESS = 3
    PER_CLIENT = 20

    def save(self, *args, request=None, **kwargs):
        """Send the link unless the address or the client asked too often this hour.

        The page answers the same either way, so neither throttling nor an unknown address
        can be told apart from a sent mail.
        """
        from core import crypto, net
        from core.throttle import over_limit

        email_key = "pwreset:mail:" + crypto.blind_index("email", self.cleaned_data["email"])
        # The real client behind a trusted proxy: keyed on the proxy's own address, every
        # customer behind nginx would share one bucket.
        client = (net.client_ip(request.META) or "") if request is not None else ""
        too_many = over_limit(email_key, self.PER_ADDRESS) or over_limit(
            f"pwreset:client:{client}", self.PER_CLIENT
        )
        if too_many:
            return
        super().save(*args, request=request, **kwargs)

    def get_users(self, email):
        from accounts.selectors import user_by_email

        user = user_by_email(email)
        if user is not None and user.is_active and user.has_usable_password():
            yield user

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        from django.conf import settings

        from audit.services import audit_record

        path = reverse(
            "accounts:password_reset_confirm",
            kwargs={"uidb64": context["uid"], "token": context["token"]},
        )
        user = context["user"]
        # The link's host comes from settings, never from the request's Host header.
        hooks.password_reset_requested(user=user, link=settings.SITE_URL.rstrip("/") + path)
        audit_record(action="user.password_reset_requested", actor="anonymous", target=user)


class SetPasswordForm(auth_forms.SetPasswordForm):
    """Set the new password through the service: validated, audited, other sessions ended,
    the owner told by e-mail."""

    def save(self, commit=True):
        from accounts.services import user_change_password

        return user_change_password(
            user=self.user, new_password=self.cleaned_data["new_password1"], actor=self.user
        )
