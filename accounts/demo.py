"""Demo data: three Chinese customer organisations, their users and the desk's staff."""

from __future__ import annotations

from accounts.roles import REGIONS

DEMO_PASSWORD = "WeldDesk-demo-2026"  # noqa: S105 - printed for the demo; seed refuses in production

ORGANISATIONS = [
    {
        "name": "苏州恒锐精密焊接有限公司",
        "name_en": "Suzhou Hengrui Precision Welding Co., Ltd.",
        "tier": "premium",
        "region": "east",
        "contact_name": "王建国",
        "contact_email": "wang.jianguo@hengrui-weld.example",
        "contact_phone": "+86 138 0512 6621",
        "address": "江苏省苏州市工业园区星湖街328号",
        "users": [
            ("wang.jianguo@hengrui-weld.example", "王建国", "+86 138 0512 6621", "zh-hans"),
            ("liu.fang@hengrui-weld.example", "刘芳", "+86 139 1306 4410", "zh-hans"),
        ],
    },
    {
        "name": "东莞锦川五金制品有限公司",
        "name_en": "Dongguan Jinchuan Hardware Products Co., Ltd.",
        "tier": "standard",
        "region": "south",
        "contact_name": "陈志强",
        "contact_email": "chen.zhiqiang@jinchuan-hw.example",
        "contact_phone": "+86 137 2288 9053",
        "address": "广东省东莞市长安镇振安中路188号",
        "users": [
            ("chen.zhiqiang@jinchuan-hw.example", "陈志强", "+86 137 2288 9053", "zh-hans"),
            ("huang.li@jinchuan-hw.example", "黄丽", "+86 135 3079 1186", "zh-hans"),
        ],
    },
    {
        "name": "天津北辰重工装备有限公司",
        "name_en": "Tianjin Beichen Heavy Equipment Co., Ltd.",
        "tier": "plus",
        "region": "north",
        "contact_name": "赵磊",
        "contact_email": "zhao.lei@beichen-heavy.example",
        "contact_phone": "+86 186 2235 7702",
        "address": "天津市北辰区京津公路西侧双辰中路5号",
        "users": [
            ("zhao.lei@beichen-heavy.example", "赵磊", "+86 186 2235 7702", "zh-hans"),
            ("emma.schulz@beichen-heavy.example", "Emma Schulz", "+86 150 2216 3348", "en"),
        ],
    },
]

# Daniel Wu works the nationwide queues: an agent sees only the regions given (none: nothing).
ALL_REGIONS = [code for code, _en, _zh in REGIONS]

# email, name, roles, region codes (supervisors, compliance and superusers see all regions
# whatever is given), language, superuser
STAFF = [
    ("li.na@welddesk.example", "李娜", ["agent"], ["east"], "zh-hans", False),
    ("zhou.min@welddesk.example", "周敏", ["agent"], ["south", "north"], "zh-hans", False),
    ("daniel.wu@welddesk.example", "Daniel Wu", ["agent"], ALL_REGIONS, "en", False),
    ("zhang.wei@welddesk.example", "张伟", ["supervisor"], [], "zh-hans", False),
    ("sarah.lin@welddesk.example", "Sarah Lin", ["compliance_officer"], [], "en", False),
    ("admin@welddesk.example", "WeldDesk Admin", [], [], "en", True),
]

# Higher apps add their demo data here (registered in their AppConfig.ready); seed_demo runs
# them in registration order after the organisations and people exist.
SEEDERS: list = []


def register_seeder(func) -> None:
    if func not in SEEDERS:
        SEEDERS.append(func)
