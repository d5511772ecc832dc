"""URLs of the ticket, unit and fault-code API (included under /api/v1/)."""

from django.urls import path

from tickets import api

urlpatterns = [
    path("tickets/", api.TicketListApi.as_view(), name="api-tickets"),
    path("tickets/<str:reference>/", api.TicketDetailApi.as_view(), name="api-ticket"),
    path("tickets/<str:reference>/reply/", api.TicketReplyApi.as_view(), name="api-ticket-reply"),
    path("tickets/<str:reference>/close/", api.TicketCloseApi.as_view(), name="api-ticket-close"),
    path("units/", api.UnitListApi.as_view(), name="api-units"),
    path("units/<str:serial_number>/", api.UnitDetailApi.as_view(), name="api-unit"),
    path("fault-codes/", api.FaultCodeListApi.as_view(), name="api-fault-codes"),
]
