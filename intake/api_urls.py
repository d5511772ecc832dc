from django.urls import path

from intake import api

urlpatterns = [
    path("telephony/events", api.telephony_events, name="telephony-events"),
]
