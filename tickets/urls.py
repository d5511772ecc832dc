"""URLs of ticket pages outside the admin and the API."""

from django.urls import path

from tickets import views

app_name = "tickets"

urlpatterns = [
    path("survey/<str:token>/", views.survey, name="survey"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment"),
]
