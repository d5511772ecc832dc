from django.urls import path

from accounts import oidc, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("2fa/setup/", views.otp_setup, name="otp_setup"),
    path("2fa/verify/", views.otp_verify, name="otp_verify"),
    path("security/", views.security, name="security"),
    path("security/backup-codes/", views.backup_codes_regenerate, name="backup_codes"),
    path("language/", views.language_set, name="language"),
    # Staff single sign-on (404 unless OIDC_ENABLED); the provider redirects to the callback.
    path("oidc/authenticate/", oidc.ProviderSignInView.as_view(), name="oidc_authenticate"),
    path("oidc/callback/", oidc.ProviderCallbackView.as_view(), name="oidc_callback"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
