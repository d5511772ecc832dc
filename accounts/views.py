"""Sign-in, sign-out and two-factor pages (thin: parse, call a service, render)."""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language

from accounts import oidc, services
from accounts.forms import (
    LoginForm,
    OtpForm,
    OtpSetupForm,
    PasswordResetForm,
    ReauthForm,
    SetPasswordForm,
)
from accounts.qr import qr_svg
from accounts.services.auth import SESSION_PROVIDER, needs_second_factor
from accounts.services.otp import has_confirmed_totp
from core.errors import ApplicationError, Forbidden
from core.forms import apply_service_errors


def _next_url(request: HttpRequest, default: str = "/") -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?next={quote(next_url)}"


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request, default="")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.login_attempt(
                request=request,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except services.LoginRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            next_url = next_url or (reverse("admin:index") if user.is_staff else "/")
            if needs_second_factor(user):
                target = "accounts:otp_verify" if has_confirmed_totp(user) else "accounts:otp_setup"
                return redirect(_with_next(target, next_url))
            return redirect(next_url)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "next": next_url, **oidc.button_context()}
    return render(request, "accounts/login.html", context, status=status)


def admin_login_redirect(request: HttpRequest) -> HttpResponse:
    return redirect(_with_next("accounts:login", _next_url(request, "/admin/")))


@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        services.logout_record(request=request)
        messages.success(request, _("You have been signed out."))
        return redirect("accounts:login")
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")


@sensitive_post_parameters("token", "reauth_password")
@login_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def otp_setup(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    user = request.user
    if has_confirmed_totp(user):
        if user.is_verified():
            return redirect("accounts:security")
        return redirect(_with_next("accounts:otp_verify", next_url))
    device = services.otp_device_start(user=user)
    form = OtpSetupForm(request.POST or None)
    # Signed in by single sign-on with no desk password: the fresh provider sign-in is the
    # re-authentication (accounts.services.reauth.reauthenticated_by_provider).
    by_provider = not user.has_usable_password() and SESSION_PROVIDER in request.session
    if by_provider:
        del form.fields["reauth_password"]
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            if by_provider:
                reauth = services.reauthenticated_by_provider(request=request, actor=user)
                if reauth is None:
                    raise Forbidden(
                        _("Sign in with single sign-on again, then set up the authenticator.")
                    )
            else:
                reauth = services.reauthenticate(
                    request=request, actor=user, password=form.cleaned_data["reauth_password"]
                )
            codes = services.otp_device_confirm(
                request=request, user=user, token=form.cleaned_data["token"], reauth=reauth
            )
        except ApplicationError as exc:
            apply_service_errors(form, exc)
            status = exc.status_code
        except services.OtpRefused as refusal:
            form.add_error("token", refusal.message)
        else:
            return render(request, "accounts/backup_codes.html", {"codes": codes, "next": next_url})
    context = {
        "form": form,
        "next": next_url,
        # Generated by us from a fixed alphabet: safe to insert as markup.
        "qr": mark_safe(qr_svg(device.config_url)),
        "secret": b32encode(device.bin_key).decode().rstrip("="),
        "by_provider": by_provider,
    }
    if form.errors and status == 200:
        status = 400
    return render(request, "accounts/otp_setup.html", context, status=status)


@sensitive_post_parameters("token")
@login_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if request.user.is_verified():
        return redirect(next_url)
    if not has_confirmed_totp(request.user):
        return redirect(_with_next("accounts:otp_setup", next_url))
    form = OtpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.otp_verify(
                request=request, user=request.user, token=form.cleaned_data["token"]
            )
        except services.OtpRefused as refusal:
            form.add_error("token", refusal.message)
        else:
            return redirect(next_url)
    return render(
        request,
        "accounts/otp_verify.html",
        {"form": form, "next": next_url},
        status=400 if form.errors else 200,
    )


def _security_page(request: HttpRequest, form: ReauthForm, status: int = 200) -> HttpResponse:
    context = {"has_totp": has_confirmed_totp(request.user), "form": form}
    return render(request, "accounts/security.html", context, status=status)


@login_required
@never_cache
def security(request: HttpRequest) -> HttpResponse:
    return _security_page(request, ReauthForm())


@sensitive_post_parameters("reauth_password", "reauth_code")
@login_required
@never_cache
@require_POST
def backup_codes_regenerate(request: HttpRequest) -> HttpResponse:
    """New backup codes (a change of the second factor): password and code again first."""
    form = ReauthForm(request.POST)
    form.is_valid()
    try:
        reauth = services.reauthenticate(
            request=request, actor=request.user, **form.reauth_values()
        )
        codes = services.backup_codes_regenerate(
            user=request.user, actor=request.user, reauth=reauth
        )
    except ApplicationError as exc:
        apply_service_errors(form, exc)
        return _security_page(request, form, status=exc.status_code)
    return render(
        request,
        "accounts/backup_codes.html",
        {"codes": codes, "next": reverse("accounts:security")},
    )


@require_POST
@csrf_protect
def language_set(request: HttpRequest) -> HttpResponse:
    """Switch the language; a signed-in user's choice is kept as their preference."""
    response = set_language(request)
    code = request.POST.get("language", "")
    if request.user.is_authenticated and code in dict(settings.LANGUAGES):
        try:
            services.user_update_profile(user=request.user, actor=request.user, language=code)
        except ApplicationError as exc:
            # The session still switches (set_language's cookie); say why it was not kept.
            messages.error(request, exc.message)
    return response


class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link by e-mail; the answer never says whether the address is known."""

    template_name = "accounts/password_reset.html"
    form_class = PasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    form_class = SetPasswordForm
    success_url = reverse_lazy("accounts:password_reset_complete")
    post_reset_login = False

    def form_valid(self, form):
        response = super().form_valid(form)
        services.password_reset_completed(request=self.request, user=form.user)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
