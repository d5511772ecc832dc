"""Demo components: a hotline per region, the online channels, two service centres."""

from __future__ import annotations

from accounts.models import Region
from status.models import Component, ComponentGroup, ComponentKind

GROUPS = [
    ("hotlines", "Service hotlines", "服务热线", 1),
    ("online", "Online channels", "在线渠道", 2),
    ("centres", "Service centres", "服务中心", 3),
]
ONLINE = [
    ("chat", "Online chat", "在线客服", ComponentKind.CHAT),
    ("email", "Email support", "邮件支持", ComponentKind.EMAIL),
    ("portal", "Customer portal", "客户门户", ComponentKind.PORTAL),
    ("partner-api", "Partner API", "合作伙伴接口", ComponentKind.PARTNER_API),
]
CENTRES = [
    ("centre-suzhou", "Suzhou service centre", "苏州服务中心", "east"),
    ("centre-shenzhen", "Shenzhen service centre", "深圳服务中心", "south"),
]


def seed() -> int:
    """Create the demo components that do not exist yet; return how many were created."""
    groups = {}
    for key, en, zh, position in GROUPS:
        groups[key], _ = ComponentGroup.objects.get_or_create(
            key=key, defaults={"name_en": en, "name_zh": zh, "position": position}
        )
    existing = set(Component.objects.values_list("key", flat=True))
    wanted = []
    for n, region in enumerate(Region.objects.order_by("code"), start=1):
        wanted.append(
            Component(
                group=groups["hotlines"],
                key=f"hotline-{region.code}",
                name_en=f"Hotline {region.name_en}",
                name_zh=f"{region.name_zh}热线",
                kind=ComponentKind.HOTLINE,
                region=region,
                position=n,
            )
        )
    for n, (key, en, zh, kind) in enumerate(ONLINE, start=1):
        wanted.append(
            Component(
                group=groups["online"], key=key, name_en=en, name_zh=zh, kind=kind, position=n
            )
        )
    regions = {r.code: r for r in Region.objects.all()}
    for n, (key, en, zh, region) in enumerate(CENTRES, start=1):
        wanted.append(
            Component(
                group=groups["centres"],
                key=key,
                name_en=en,
                name_zh=zh,
                kind=ComponentKind.SERVICE_CENTRE,
                region=regions.get(region),
                position=n,
            )
        )
    new = [c for c in wanted if c.key not in existing]
    Component.objects.bulk_create(new)
    return len(new)
