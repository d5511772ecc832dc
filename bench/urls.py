"""The desk's URLs plus the floor endpoints of the benchmarks (bench/floor/)."""

from django.urls import include, path

from bench.floor import pages
from bench.floor.api import AlarmsFloorApi, FloorApi, TokenFloorApi

urlpatterns = [
    path("bench/floor/", FloorApi.as_view(), name="bench-floor"),
    path("bench/floor/token/", TokenFloorApi.as_view(), name="bench-floor-token"),
    path(
        "bench/floor/token/units/<str:serial_number>/alarms",
        AlarmsFloorApi.as_view(),
        name="bench-floor-alarms",
    ),
    path("bench/floor/page/staff/<int:pk>/", pages.staff_page, name="bench-floor-staff"),
    path("bench/floor/page/portal/<str:reference>/", pages.portal_page, name="bench-floor-portal"),
    path("bench/floor/page/api/<str:reference>/", pages.ApiPage.as_view(), name="bench-floor-api"),
    path("", include("servicedesk.urls")),
]
