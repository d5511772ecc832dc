from django.urls import path

from status import views

app_name = "status"

urlpatterns = [
    path("", views.page, name="page"),
    path("incidents/<int:pk>/", views.incident, name="incident"),
    path("incidents/<int:pk>/report/", views.report, name="report"),
    path("feed.atom", views.IncidentFeed(), name="feed"),
    path("api/v1/summary.json", views.summary_json, name="summary"),
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscriptions/<str:token>/confirm/", views.confirm, name="confirm"),
    path("subscriptions/<str:token>/unsubscribe/", views.unsubscribe, name="unsubscribe"),
]
