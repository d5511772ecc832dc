"""The desk's URLs plus the floor endpoint of the create benchmark."""

from django.urls import include, path

from bench.floor.api import FloorApi

urlpatterns = [
    path("bench/floor/", FloorApi.as_view(), name="bench-floor"),
    path("", include("servicedesk.urls")),
]
