from django.urls import path

from intake import api
from intake.alarms import api as alarms_api
from intake.mail import api as mail_api
from intake.wechat import api as wechat_api

urlpatterns = [
    path("telephony/events", api.telephony_events, name="telephony-events"),
    path("mail/inbound", mail_api.mail_inbound, name="mail-inbound"),
    # As the issue names it, with or without the slash the other unit URLs end with.
    path("units/<str:serial_number>/alarms", alarms_api.unit_alarms, name="api-unit-alarms"),
    path(
        "units/<str:serial_number>/alarms/",
        alarms_api.unit_alarms_slash,
        name="api-unit-alarms-slash",
    ),
    path("wechat/callback", wechat_api.wechat_callback, name="wechat-callback"),
    path("wecom/callback", wechat_api.wecom_callback, name="wecom-callback"),
]
