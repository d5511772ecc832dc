from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Live chat")

    def ready(self) -> None:
        from chat import presence, report_selectors
        from chat.home import chat_blocks
        from core import home, metrics, periodic, reports

        home.register(chat_blocks)
        reports.register(report_selectors.REPORT)

        metrics.register_collector("chat", presence.chat_metrics)
        periodic.register(
            periodic.Schedule(
                name="chat: presence sweep and routing",
                task="chat.presence_sweep",
                every_seconds=15,
                description="Agents silent for 60 s go offline; waiting chats are assigned.",
            )
        )
        periodic.register(
            periodic.Schedule(
                name="chat: scan quarantined files again",
                task="chat.rescan_attachments",
                every_seconds=300,
                description="Scan again the chat files held while the virus scanner was away; "
                "release the clean ones, delete malware.",
            )
        )
        periodic.register(
            periodic.Schedule(
                name="chat: sweep orphan files",
                task="chat.sweep_attachments",
                crontab="55 4 * * *",
                description="Delete stored chat files whose upload was rolled back.",
            )
        )
