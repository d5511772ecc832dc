"""Top-level URL configuration."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as account_views
from core import sealed_search
from core.schema import docs_page
from servicedesk import admin_home, reports, views

# The server's error answers: JSON under /api/, a lost database a 503 (core/views.py).
handler400 = "core.views.bad_request"
handler500 = "core.views.server_error"

admin.site.site_header = "WeldDesk"
admin.site.site_title = "WeldDesk"
admin.site.index_title = gettext_lazy("Service desk administration")

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/login/", account_views.admin_login_redirect, name="admin-login"),
    path("admin/logout/", account_views.logout_view, name="admin-logout"),
    # The admin's search box posts here, so a typed e-mail or phone never reaches a URL.
    path(
        "admin/search/",
        admin.site.admin_view(sealed_search.admin_search),
        name="admin-search",
    ),
    # Staff who work tickets land on their work; Django's model index stays one click away.
    path("admin/", admin.site.admin_view(admin_home.agent_home), name="agent-home"),
    path("admin/models/", admin.site.admin_view(admin.site.index), name="admin-models"),
    # The supervisors' reports, drawn from what the apps register in core.reports.
    path("admin/reports/", admin.site.admin_view(reports.report_index), name="admin-reports"),
    path(
        "admin/reports/<str:key>/",
        admin.site.admin_view(reports.report_page),
        name="admin-report",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("tickets/", include("tickets.urls")),
    path("portal/", include("portal.urls")),
    path("chat/", include("chat.urls")),
    path("status/", include("status.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("tickets.api_urls")),
    path("api/v1/", include("status.api_urls")),
    path("api/v1/", include("intake.api_urls")),
    path("api/v1/", include("logistics.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        # Swagger UI sets inline styles; scripts stay 'self' only (the split view serves its JS).
        csp_update({"style-src": [UNSAFE_INLINE]})(
            docs_page(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
        ),
        name="api-docs",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", views.home, name="home"),
]
