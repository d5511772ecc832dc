"""The desk's URLs plus the floor endpoint of the create benchmark."""

from django.urls import include, path

from bench.floor.api import FloorApi, TokenFloorApi

urlpatterns = [
    path("bench/floor/", FloorApi.as_view(), name="bench-floor"),
    path("bench/floor/token/", TokenFloorApi.as_view(), name="bench-floor-token"),
    path("", include("servicedesk.urls")),
]
