"""URLs of chat files (the chat itself speaks over /ws/chat/)."""

from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("<int:conversation_id>/files/", views.upload, name="upload"),
    path("files/<int:pk>/", views.attachment, name="attachment"),
]
