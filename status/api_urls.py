from django.urls import path

from status import api

urlpatterns = [
    path("alerts/alertmanager", api.alertmanager, name="alertmanager-webhook"),
]
