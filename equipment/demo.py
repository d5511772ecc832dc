"""Demo machine models, fault codes and installed units for the demo organisations."""

from __future__ import annotations

import datetime as dt

from accounts.models import Organisation
from equipment import services
from equipment.models import FaultCode, MachineModel, Severity, Unit

# (code, English name, Chinese name, product line, wavelength, power)
MODELS = [
    (
        "hw-1500",
        "HW-1500 handheld fibre-laser welder 1.5 kW",
        "HW-1500 手持式光纤激光焊接机 1.5 kW",
        "handheld",
        1080,
        1500,
    ),
    (
        "hw-2000",
        "HW-2000 handheld fibre-laser welder 2 kW",
        "HW-2000 手持式光纤激光焊接机 2 kW",
        "handheld",
        1080,
        2000,
    ),
    (
        "hw-3000",
        "HW-3000 handheld fibre-laser welder 3 kW",
        "HW-3000 手持式光纤激光焊接机 3 kW",
        "handheld",
        1080,
        3000,
    ),
    (
        "rc-6000",
        "RC-6000 robotic laser welding cell 6 kW",
        "RC-6000 机器人激光焊接工作站 6 kW",
        "robotic",
        1070,
        6000,
    ),
]
FAULT_CODES = [
    (
        "E101",
        "Laser source over-temperature",
        "激光器温度过高",
        Severity.CRITICAL,
        "Check the chiller is running and its water level; clean the chiller's dust filter.",
        "检查冷水机是否运行及水位；清洁冷水机防尘网。",
    ),
    (
        "E102",
        "Chiller flow alarm",
        "冷水机流量报警",
        Severity.CRITICAL,
        "Look for kinked water hoses; check the filter cartridge; top up distilled water.",
        "检查水管是否弯折；检查滤芯；补充蒸馏水。",
    ),
    (
        "E203",
        "Protective lens contaminated",
        "保护镜片污染",
        Severity.MAJOR,
        "Replace or clean the protective lens with lint-free wipes and alcohol.",
        "用无尘布和酒精清洁或更换保护镜片。",
    ),
    (
        "E305",
        "Wire feed jam",
        "送丝卡丝",
        Severity.MAJOR,
        "Check the liner for kinks, the contact tip size and the drive-roll pressure.",
        "检查送丝管是否弯折、导电嘴规格及送丝轮压力。",
    ),
    (
        "E410",
        "Shielding gas pressure low",
        "保护气压力不足",
        Severity.MAJOR,
        "Check the cylinder pressure, regulator and gas hose for leaks; flow 15–20 L/min.",
        "检查气瓶压力、减压阀及气管是否漏气；流量15–20 L/min。",
    ),
    (
        "E512",
        "Safety interlock open",
        "安全联锁断开",
        Severity.CRITICAL,
        "Close the cell door and the grounding clamp; reset the interlock on the panel.",
        "关闭工作站门并夹好接地夹；在面板上复位联锁。",
    ),
    (
        "W020",
        "Spatter and porosity above normal",
        "飞溅和气孔增多",
        Severity.MINOR,
        "Clean the workpiece of oil and oxide; check gas coverage and focus position.",
        "清除工件油污和氧化层；检查保护气覆盖和焦点位置。",
    ),
    (
        "I001",
        "Firmware update available",
        "有可用固件更新",
        Severity.INFO,
        "Plan the update for a stop; the service engineer can do it remotely.",
        "请在停机时安排更新；服务工程师可远程完成。",
    ),
]
# Units per organisation (by English name prefix):
# (serial, model code, site, site in Chinese, installed, tier)
UNITS = {
    "Suzhou": [
        (
            "HW2000-2025-0101",
            "hw-2000",
            "Plant 1, line A",
            "一厂 A 线",
            dt.date(2025, 3, 18),
            "premium",
        ),
        (
            "RC6000-2024-0007",
            "rc-6000",
            "Plant 2, robot cell 3",
            "二厂 3 号机器人工作站",
            dt.date(2024, 12, 2),
            "premium",
        ),
    ],
    "Dongguan": [
        ("HW1500-2024-0420", "hw-1500", "Workshop 2", "二号车间", dt.date(2024, 5, 9), "standard"),
        (
            "HW1500-2023-0188",
            "hw-1500",
            "Workshop 1",
            "一号车间",
            dt.date(2023, 11, 20),
            "standard",
        ),
    ],
    "Tianjin": [
        ("HW3000-2026-0012", "hw-3000", "Hall B", "B 厂房", dt.date(2026, 2, 26), "plus"),
        (
            "RC6000-2025-0031",
            "rc-6000",
            "Hall A, line 2",
            "A 厂房 2 线",
            dt.date(2025, 8, 14),
            "plus",
        ),
    ],
}


def seed() -> int:
    created = 0
    models = {}
    for code, name, name_zh, line, wavelength, power in MODELS:
        models[code], was_created = MachineModel.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "name_zh": name_zh,
                "product_line": line,
                "wavelength_nm": wavelength,
                "max_power_w": power,
            },
        )
        created += was_created
        # A demo database seeded before models had Chinese names gets them now.
        MachineModel.objects.filter(pk=models[code].pk, name_zh="").update(name_zh=name_zh)
    for code, en, zh, severity, checks_en, checks_zh in FAULT_CODES:
        _, was_created = FaultCode.objects.get_or_create(
            code=code,
            defaults={
                "title_en": en,
                "title_zh": zh,
                "severity": severity,
                "first_checks_en": checks_en,
                "first_checks_zh": checks_zh,
            },
        )
        created += was_created
    for prefix, units in UNITS.items():
        org = Organisation.objects.filter(name_en__startswith=prefix).first()
        if org is None:
            continue
        for serial, model, site, site_zh, installed, tier in units:
            if Unit.objects.filter(serial_number=serial).exists():
                continue
            services.unit_create(
                actor="system:seed",
                serial_number=serial,
                machine_model=models[model],
                organisation=org,
                site=site,
                site_zh=site_zh,
                installed_on=installed,
                contract_tier=tier,
            )
            created += 1
    return created
