from django.urls import path

from intake import api
from intake.mail import api as mail_api
from intake.wechat import api as wechat_api

urlpatterns = [
    path("telephony/events", api.telephony_events, name="telephony-events"),
    path("mail/inbound", mail_api.mail_inbound, name="mail-inbound"),
    path("wechat/callback", wechat_api.wechat_callback, name="wechat-callback"),
    path("wecom/callback", wechat_api.wecom_callback, name="wecom-callback"),
]
