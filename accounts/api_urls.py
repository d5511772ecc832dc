from django.urls import path

from accounts import api

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("organisations/", api.OrganisationListApi.as_view(), name="api-organisations"),
    path("organisations/<int:pk>/", api.OrganisationDetailApi.as_view(), name="api-organisation"),
]
