from django.urls import path

from logistics import api

urlpatterns = [
    path("logistics/kuaidi100/push", api.kuaidi100_push, name="kuaidi100_push"),
]
