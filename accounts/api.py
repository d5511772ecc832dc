"""REST endpoints of the accounts app: who am I, and the organisations I may see."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions, selectors
from accounts.models import Organisation
from core.pagination import PageNumberPagination


class RegionOut(serializers.Serializer):
    code = serializers.CharField()
    name_en = serializers.CharField()
    name_zh = serializers.CharField()


class OrganisationOut(serializers.ModelSerializer):
    region = RegionOut()

    class Meta:
        model = Organisation
        fields = ["id", "name", "name_en", "tier", "region", "is_active"]


class ApiKeyOut(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()
    scope = serializers.CharField()


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(allow_null=True)
        email = serializers.EmailField(allow_null=True)
        full_name = serializers.CharField()
        language = serializers.CharField()
        is_staff = serializers.BooleanField()
        roles = serializers.ListField(child=serializers.CharField())
        organisation = OrganisationOut(allow_null=True)
        api_key = ApiKeyOut(required=False)

    @extend_schema(responses=OutputSerializer, summary="The signed-in user, or the API key")
    def get(self, request: Request) -> Response:
        user = request.user
        key = getattr(user, "api_key", None)
        if key is not None:
            data = {
                "id": None,
                "email": None,
                "full_name": key.name,
                "language": "en",
                "is_staff": False,
                "roles": [],
                "organisation": key.organisation,
                "api_key": key,
            }
            return Response(self.OutputSerializer(data).data, headers={"Cache-Control": "no-store"})
        data = {
            "id": user.pk,
            "email": user.email,
            "full_name": user.full_name,
            "language": user.language,
            "is_staff": user.is_staff,
            "roles": sorted(permissions.role_names(user)),
            "organisation": user.organisation,
        }
        response = Response(self.OutputSerializer(data).data)
        response["Cache-Control"] = "no-store"
        return response


class OrganisationListApi(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(responses=OrganisationOut(many=True), summary="Organisations visible to me")
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.organisation_list(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(OrganisationOut(page, many=True).data)


class OrganisationDetailApi(APIView):
    @extend_schema(responses=OrganisationOut, summary="One organisation (404 if not visible to me)")
    def get(self, request: Request, pk: int) -> Response:
        return Response(OrganisationOut(selectors.organisation_get(user=request.user, pk=pk)).data)
