from django.urls import path

from intake import api
from intake.mail import api as mail_api

urlpatterns = [
    path("telephony/events", api.telephony_events, name="telephony-events"),
    path("mail/inbound", mail_api.mail_inbound, name="mail-inbound"),
]
