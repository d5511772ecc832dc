"""URLs of the customer portal."""

from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("tickets/", views.ticket_list, name="tickets"),
    path("tickets/new/", views.ticket_new, name="ticket_new"),
    path("tickets/<str:reference>/", views.ticket_detail, name="ticket"),
    path("machines/", views.machine_list, name="machines"),
    path("machines/<str:serial>/", views.machine_detail, name="machine"),
    path("compensation/", views.compensation, name="compensation"),
    path("shipments/", views.shipment_list, name="shipments"),
    path("shipments/<int:pk>/", views.shipment_detail, name="shipment"),
    path("profile/", views.profile, name="profile"),
    path("profile/link/", views.platform_link, name="platform_link"),
    path("profile/link/<str:pk>/unlink/", views.platform_unlink, name="platform_unlink"),
    path("profile/push/", views.push_subscription, name="push"),
    path("profile/my-data/", views.data_export, name="data_export"),
    path("chat/", views.chat, name="chat"),
    path("help/", views.kb_index, name="kb"),
    path("help/suggest/", views.suggest, name="suggest"),
    path("help/<str:language>/<str:slug>/", views.kb_article, name="article"),
    path("fault-codes/<str:code>/", views.fault_code, name="fault_code"),
]
