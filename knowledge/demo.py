"""Demo knowledge base: six troubleshooting topics, each written in English and in Chinese."""

from __future__ import annotations

import re

from equipment.models import FaultCode, MachineModel
from knowledge import services
from knowledge.models import Article

ALL_MODELS = ("hw-1500", "hw-2000", "hw-3000", "rc-6000")
# A line break between two Chinese characters: the source wraps lines, a page must not show
# the break as a space in the middle of a Chinese sentence.
_CJK_WRAP = re.compile(r"(?<=[^\x00-\x7f])\n[ \t]*(?=[^\x00-\x7f\s])")

# (language, title, fault codes, machine models, Markdown body)
ARTICLES: list[tuple[str, str, tuple[str, ...], tuple[str, ...], str]] = [
    (
        "en",
        "Spatter and porosity in weld seams: causes and fixes",
        ("W020", "E410"),
        ALL_MODELS,
        """\
Pores (small round holes in or under the seam) and heavy spatter usually have one of four
causes: a dirty workpiece, poor shielding gas coverage, a wrong focus position or too much
power for the joint. Warning **W020** means the seam monitor sees more spatter or porosity
than normal.

## Check the workpiece first

- Remove oil, cutting fluid, paint and fingerprints with a solvent wipe.
- Grind or brush off mill scale and rust; on aluminium, remove the oxide layer with a
  stainless steel brush shortly before welding.
- Galvanised steel needs a venting gap of 0.1–0.2 mm in lap joints, or the zinc vapour
  blows out through the pool and leaves pores.
- Dry the parts: condensation on cold parts brought in from outside causes hydrogen porosity.

## Check the shielding gas

- Flow should be 15–20 L/min for the handheld head. Too little lets air in; much more than
  25 L/min becomes turbulent and pulls air into the pool.
- Keep fans and open doors away from the torch: a draught strips the gas away.
- If the seam looks grey or black instead of bright, see the article on shielding gas.

## Check focus and parameters

1. Verify the focus position with a test line on scrap: the narrowest, brightest line marks
   the focus.
2. Reduce power by 10 % steps if the pool boils; increase speed slightly instead of adding
   power.
3. On the RC-6000 cell, compare the program with the last good part; a changed wobble width
   or frequency often shows as spatter first.

## When to call us

If porosity stays after cleaning, new gas and a focus check, open a ticket with a photo of
the seam, the material and thickness and your parameter screen.
""",
    ),
    (
        "zh-hans",
        "焊缝飞溅和气孔的原因与处理",
        ("W020", "E410"),
        ALL_MODELS,
        """\
焊缝中或焊缝表面出现小圆孔（气孔），或者飞溅明显增多，通常由四类原因造成：工件不干净、
保护气覆盖不良、焦点位置不对、功率相对接头过大。设备提示 **W020** 表示焊缝监测发现飞溅或
气孔高于正常水平。

## 第一步：检查工件

- 用清洗剂擦除油污、切削液、油漆和手印。
- 打磨或刷掉氧化皮和锈迹；铝件在焊前用不锈钢丝刷去除氧化膜，清理后尽快焊接。
- 镀锌板搭接时应留 0.1–0.2 mm 的排气间隙，否则锌蒸汽从熔池中冲出，留下气孔。
- 工件要干燥：冬天从室外搬进车间的冷工件表面容易结露，会产生氢气孔。

## 第二步：检查保护气

- 手持焊枪的保护气流量一般为 15–20 L/min。流量太小，空气会进入熔池；超过 25 L/min
  会形成紊流，反而把空气卷进来。
- 焊接位置避开风扇和敞开的门窗，穿堂风会把保护气吹散。
- 如果焊缝发灰、发黑而不是光亮，请参考“保护气流量与覆盖问题”一文。

## 第三步：检查焦点和参数

1. 在废料上打一条测试线确认焦点：线最细、最亮的位置就是焦点。
2. 如果熔池沸腾翻滚，按 10% 的幅度逐步降低功率；优先适当提高焊接速度，而不是加功率。
3. RC-6000 机器人工作站请把当前程序与上一次合格件的程序对比，摆动宽度或摆动频率被改动时，
   往往首先表现为飞溅增多。

## 何时联系我们

清洁工件、更换气瓶并确认焦点后气孔仍然存在，请提交工单，并附上焊缝照片、材料和板厚以及
参数界面截图。
""",
    ),
    (
        "en",
        "Protective lens contamination (E203): clean or replace the lens",
        ("E203",),
        ALL_MODELS,
        """\
The protective lens is the cheap window that keeps spatter and fumes away from the focusing
lens. When it gets dirty it absorbs laser power, heats up and can crack. The machine reports
**E203** when the lens temperature sensor or the back-reflection monitor sees contamination.

## Typical signs

- E203 on the display, or weaker penetration at the same parameters.
- The lens drawer is hot to the touch after welding.
- Visible dark spots, a grey film or a crack on the lens.

## Clean the lens safely

1. Stop welding, switch the laser off with the key switch and wait one minute.
2. Point the head downwards so no dust falls inside, then pull out the lens drawer.
3. Hold the lens only by its edges, wearing powder-free gloves or finger cots.
4. Look through it against a light. A light film can be cleaned; burnt pits, chips or a
   crack mean the lens must be replaced.
5. Put two drops of isopropyl alcohol (99 % or purer) on a lint-free lens wipe and draw it
   across the lens once, in one direction. Never rub in circles and never reuse a wipe.
6. Check the sealing ring for damage, refit the lens and close the drawer fully.

## Keep it clean longer

- Inspect the lens at the start of every shift; keep spare lenses in their sealed box.
- Keep the shielding gas on: it also blows fumes away from the lens.
- Hold the nozzle at the recommended distance and avoid welding straight into a corner that
  throws spatter back at the head.

If E203 returns right after fitting a new lens, the sensor or the focusing lens may be
contaminated: do not open the head further, open a ticket instead.
""",
    ),
    (
        "zh-hans",
        "保护镜片污染（E203）：清洁或更换保护镜片",
        ("E203",),
        ALL_MODELS,
        """\
保护镜片是焊接头最前端的一片低成本窗口镜，用来挡住飞溅和烟尘，保护后面的聚焦镜。保护镜片
脏了以后会吸收激光能量、发热，严重时会炸裂。当镜片温度传感器或回光监测发现污染时，设备会
报 **E203**。

## 常见现象

- 屏幕显示 E203，或者参数不变但熔深明显变浅。
- 焊接后镜片抽屉烫手。
- 镜片上能看到黑点、灰色薄膜或裂纹。

## 安全清洁步骤

1. 停止焊接，用钥匙开关关闭激光，等待一分钟。
2. 让焊接头朝下，防止灰尘掉进镜腔，再拉出镜片抽屉。
3. 戴无粉手套或指套，只捏镜片边缘。
4. 对着光线检查：轻微的薄膜可以清洁；有烧蚀点、崩边或裂纹必须更换新镜片。
5. 在无尘镜头纸上滴两滴异丙醇（纯度 99% 以上），沿一个方向擦过镜片一次。不要来回画圈擦，
   擦过的镜头纸不要重复使用。
6. 检查密封圈是否损坏，装回镜片并把抽屉推到位。

## 延长镜片寿命

- 每班开工前检查一次保护镜片，备用镜片放在密封盒中保存。
- 焊接时保持保护气开启，保护气也能把烟尘从镜片前吹走。
- 喷嘴与工件保持规定距离，避免直接对着容易反弹飞溅的内角焊接。

如果换上新镜片后 E203 很快再次出现，可能是传感器或聚焦镜受到污染。请不要自行拆开焊接头，
直接提交工单。
""",
    ),
    (
        "en",
        "Wire feed jams (E305) on handheld welders and robot cells",
        ("E305",),
        ALL_MODELS,
        """\
The wire feeder stops and shows **E305** when the motor current rises because the wire
cannot move freely. Most jams come from the path between spool and nozzle, not from the
feeder electronics.

## Quick checks

- **Hose routing:** lay the hose as straight as possible. Loops and bends tighter than about
  300 mm radius make the wire drag, especially with soft aluminium wire.
- **Liner:** the liner must match the wire diameter (for example 1.0 mm or 1.2 mm). Blow it out
  with dry compressed air every week and replace it when it is kinked or clogged with shavings.
- **Wire nozzle:** a worn or wrong-size wire nozzle or contact tip catches the wire. Fit the size
  printed for your wire and replace it when the bore is oval.
- **Drive rolls:** use V-groove rolls for steel and stainless wire and U-groove rolls for
  aluminium. Too much roll pressure flattens the wire and sheds shavings into the liner; too
  little lets it slip.
- **Spool brake:** set it just tight enough that the spool stops without overrunning, or loose
  turns tangle behind the rolls.

## Clearing a jam

1. Stop the process and switch the feeder off.
2. Cut the wire at the nozzle and pull it back onto the spool by hand.
3. Check the first metre of wire for flats or kinks; cut off any damaged length.
4. Feed the wire in again with the inch button, with the hose straight.

## Settings that cause jams

A wire feed speed much higher than the melting rate pushes the wire into the pool and back up
the hose. On the RC-6000 cell, also check that the torch cable has not been twisted by a new
robot path. If E305 returns with a new liner and correct rolls, please open a ticket.
""",
    ),
    (
        "zh-hans",
        "送丝卡丝（E305）的排查方法",
        ("E305",),
        ALL_MODELS,
        """\
送丝机电机电流升高、焊丝无法顺畅送出时，设备会停机并报 **E305**。绝大多数卡丝发生在焊丝盘到
送丝嘴之间的通道上，而不是送丝机电路故障。

## 快速检查

- **送丝管走向：** 尽量把送丝管拉直。弯曲半径小于约 300 mm 或打圈时，焊丝阻力会明显增大，
  铝焊丝尤其明显。
- **送丝管内衬：** 内衬规格必须与焊丝直径一致（例如 1.0 mm 或 1.2 mm）。每周用干燥压缩空气
  吹一次，发现折弯或被铁屑堵塞时及时更换。
- **送丝嘴：** 送丝嘴或导电嘴磨损、规格不对会卡住焊丝。请使用与焊丝直径对应的型号，孔已磨成
  椭圆时立即更换。
- **送丝轮：** 钢和不锈钢焊丝用 V 形槽送丝轮，铝焊丝用 U 形槽送丝轮。压紧力过大会把焊丝压扁，
  刮下的碎屑进入内衬；压紧力过小则会打滑。
- **焊丝盘阻尼：** 调到焊丝盘停下时不再惯性转动即可，否则松开的焊丝会在送丝轮后面乱成一团。

## 处理卡丝

1. 停止焊接，关闭送丝机。
2. 在送丝嘴处剪断焊丝，用手把焊丝倒回焊丝盘。
3. 检查前一米焊丝有无压扁或折弯，剪掉损坏的部分。
4. 保持送丝管拉直，用点动按钮重新送丝。

## 容易引起卡丝的参数

送丝速度远高于熔化速度时，焊丝会顶在熔池上并倒推回送丝管。RC-6000 机器人工作站还要检查新的
机器人轨迹是否让焊枪电缆发生了扭转。更换内衬和正确的送丝轮后仍然报 E305，请提交工单。
""",
    ),
    (
        "en",
        "Chiller alarms: water flow (E102) and laser over-temperature (E101)",
        ("E101", "E102"),
        ALL_MODELS,
        """\
The water chiller keeps the laser source and the welding head at a stable temperature. When
cooling fails the laser stops to protect itself: **E102** means the chiller flow switch sees
too little water, **E101** means the laser source is too hot.

## Flow alarm E102

- Check the water level in the sight glass and top up with distilled or deionised water only.
  Tap water leaves scale and raises conductivity, which damages the laser.
- Look for kinked or crushed hoses, especially where the hose bundle runs under the machine.
- Remove and rinse the filter cartridge; replace it if it is discoloured.
- After the water has been changed, run the pump for a few minutes to bleed air out of the
  circuit before you start the laser.

## Over-temperature E101

- Make sure the chiller is switched on and its compressor runs.
- Clean the dust filter and the condenser fins with compressed air; a blocked condenser is
  the most common cause in summer.
- Keep 50 cm of free space around the air inlets; do not place the chiller in direct sun or
  next to a furnace. Most chillers derate above 40 °C room temperature.
- Check the set points: the laser circuit usually runs at about 25 °C and the optics circuit
  at about 30 °C. Setting them much lower causes condensation on the optics in humid weather.

## Do not

- Do not restart again and again after E101; let the source cool for at least ten minutes.
- In winter, do not leave water in a cold workshop without the antifreeze we specify: frozen
  water cracks the laser's cooling plate.

Change the cooling water every three months. If E101 or E102 appears with a clean filter,
correct water level and normal room temperature, open a ticket and tell us the chiller model
and the temperatures on its display.
""",
    ),
    (
        "zh-hans",
        "冷水机报警：流量报警（E102）与激光器温度过高（E101）",
        ("E101", "E102"),
        ALL_MODELS,
        """\
冷水机负责让激光器和焊接头保持稳定的温度。冷却出问题时，激光器会自动停机保护：**E102**
表示冷水机流量开关检测到水流量不足，**E101** 表示激光器温度过高。

## 流量报警 E102

- 查看水位计，只能补充蒸馏水或去离子水。自来水会结垢并使电导率升高，损坏激光器。
- 检查水管是否弯折或被压扁，尤其是从设备下方穿过的管束。
- 取出滤芯冲洗，如果滤芯变色请更换。
- 换水之后先让水泵单独运行几分钟排出管路里的空气，再开激光。

## 温度过高 E101

- 确认冷水机已开机，压缩机在运转。
- 用压缩空气清洁防尘网和冷凝器翅片；夏天最常见的原因就是冷凝器被灰尘堵住。
- 进出风口周围留出 50 cm 空间；不要放在阳光直射处或加热炉旁边。大多数冷水机在环境温度超过
  40 °C 时制冷能力会下降。
- 检查设定温度：激光器回路一般约 25 °C，光学回路约 30 °C。设得过低，潮湿天气里镜片上会结露。

## 注意事项

- 出现 E101 后不要反复重启，请让激光器至少冷却十分钟。
- 冬季车间温度低时，不要只用纯水过夜，请按我们指定的型号和比例加防冻液：结冰会冻裂激光器的
  水冷板。

冷却水建议每三个月更换一次。如果滤芯干净、水位正常、环境温度也正常，仍然报 E101 或 E102，
请提交工单，并告诉我们冷水机型号和屏幕上显示的温度。
""",
    ),
    (
        "en",
        "Weak or unstable laser power and low penetration",
        ("E203", "E101"),
        ALL_MODELS,
        """\
If welds that used to pass now lack penetration, or the seam width changes along the part,
the power reaching the workpiece has dropped or fluctuates. The laser source itself is rarely
the cause; check the beam path and the supply first.

## Beam path

- **Protective lens:** a dirty lens is the first suspect. See the article on E203.
- **Focus position:** a head that was knocked, or a nozzle that was swapped for a different
  length, moves the focus away from the surface. Make a test line on scrap and compare it
  with the focus mark.
- **Nozzle:** a nozzle partly blocked by spatter clips the beam and heats up.

## Parameters

- Compare the program with the last good settings: power, speed, wobble width and frequency.
  A wider wobble spreads the same power over more metal and reduces penetration.
- In pulsed mode, check the duty cycle; 50 % duty at the same peak power is half the average
  power.
- Copper, brass and polished aluminium reflect most of the beam at the start; they need a
  higher start power or a slightly tilted head.

## Supply and cooling

- Handheld HW welders need a stable supply; voltage drops when large machines start on the
  same line show as unstable power. Ask your electrician to check for a missing phase or a
  loose terminal.
- A laser source that runs warm reduces its output to protect itself. Check the chiller
  temperatures (see the article on chiller alarms).

## What we need from you

If penetration stays low after these checks, measure the output with a power meter if you
have one and open a ticket with the reading, the set power and a photo of a cross-section or
the back of the seam. Do not open the fibre connector (QBH) yourself: dust on its end face
destroys it.
""",
    ),
    (
        "zh-hans",
        "激光功率弱、不稳定或熔深不足",
        ("E203", "E101"),
        ALL_MODELS,
        """\
原本合格的焊缝现在熔深不够，或者同一零件上焊缝宽窄不一，说明到达工件的功率下降或在波动。
激光器本身出问题的情况很少，请先检查光路和供电。

## 光路

- **保护镜片：** 镜片脏污是第一嫌疑，请参考 E203 保护镜片一文。
- **焦点位置：** 焊接头被碰过，或换了不同长度的喷嘴，焦点就会偏离工件表面。在废料上打一条
  测试线，与焦点标记对比。
- **喷嘴：** 喷嘴被飞溅部分堵住时会遮挡光束，喷嘴本身也会发烫。

## 参数

- 把当前程序与上一次合格的参数对比：功率、速度、摆动宽度和摆动频率。摆动越宽，同样的功率
  分散到更多金属上，熔深就越浅。
- 脉冲模式下检查占空比：峰值功率不变、占空比 50% 时，平均功率只有一半。
- 铜、黄铜和抛光铝在起弧时会反射大部分光束，需要提高起始功率或把焊接头略微倾斜。

## 供电与冷却

- HW 系列手持焊机需要稳定的电源。同一条线路上的大设备启动时电压下降，会表现为功率不稳。
  请电工检查是否缺相或接线端子松动。
- 激光器温度偏高时会自动降功率保护，请检查冷水机温度（见冷水机报警一文）。

## 需要您提供的信息

完成以上检查后熔深仍然不足，如有功率计请测量实际输出功率，然后提交工单，写明测量值、设定
功率，并附上焊缝截面或背面的照片。请不要自行拆开光纤接头（QBH），端面沾上灰尘就会烧坏。
""",
    ),
    (
        "en",
        "Shielding gas flow and gas coverage problems (E410)",
        ("E410", "W020"),
        ALL_MODELS,
        """\
Shielding gas keeps air away from the molten pool and blows fumes away from the protective
lens. **E410** means the gas pressure switch in the machine sees too little pressure. Poor
coverage without an alarm shows as dark, oxidised seams, porosity and a lens that gets dirty
quickly.

## Gas supply

- Check the cylinder pressure; change the cylinder below about 10 bar so that moisture and
  impurities from the bottom do not reach the weld.
- Use argon of 99.99 % purity for most work. Nitrogen is acceptable for stainless steel but
  not for titanium or aluminium.
- Set the flow on the regulator to 15–20 L/min for the handheld head; the robot cell
  program states its own flow.

## Leaks and blockages

- Brush soapy water on every joint from the regulator to the head; bubbles show a leak.
- Replace hoses that are cracked, crushed or burnt by spatter.
- Listen for the gas valve clicking when you press the trigger. No click and no flow means
  the valve or its cable needs checking.
- Clean spatter out of the nozzle; a half-blocked nozzle gives a narrow, fast jet that pulls
  air into the pool.

## Coverage at the seam

- Set a gas pre-flow of about 0.2 s and a post-flow of 0.5–1 s so that the start and the end
  of the seam are covered too.
- Screen the work area from fans and open doors.
- On the RC-6000 cell, check that the gas nozzle still points at the pool after any crash or
  tool change.

If E410 stays with a full cylinder and no leaks, or seams stay black with good flow, open a
ticket with photos of the seam and of the regulator.
""",
    ),
    (
        "zh-hans",
        "保护气流量与保护气覆盖问题（E410）",
        ("E410", "W020"),
        ALL_MODELS,
        """\
保护气的作用是隔绝空气保护熔池，同时把烟尘从保护镜片前吹走。**E410** 表示设备内的气压开关
检测到保护气压力不足。即使没有报警，保护不良也会表现为焊缝发黑氧化、出现气孔、保护镜片很快
变脏。

## 气源

- 检查气瓶压力，低于约 10 bar 时请更换气瓶，避免瓶底的水分和杂质进入焊缝。
- 大多数情况使用纯度 99.99% 的氩气。焊接不锈钢可以用氮气，但钛和铝不能用氮气。
- 手持焊枪在减压阀上把流量调到 15–20 L/min；机器人工作站以程序中规定的流量为准。

## 漏气与堵塞

- 从减压阀到焊接头的每个接头都刷上肥皂水，冒泡的地方就是漏点。
- 气管有裂纹、被压扁或被飞溅烫坏时请更换。
- 按下扳机时应能听到电磁阀“咔哒”一声。没有声音也没有气流，需要检查电磁阀及其线缆。
- 清除喷嘴里的飞溅；喷嘴被堵住一半时气流又细又急，反而把空气卷进熔池。

## 焊缝处的保护效果

- 提前送气约 0.2 s，滞后停气 0.5–1 s，让焊缝起点和收尾也得到保护。
- 焊接区域用挡板隔开风扇和敞开的门窗。
- RC-6000 机器人工作站发生碰撞或更换工具后，检查气嘴是否仍然对准熔池。

气瓶充足、没有漏气仍然报 E410，或者流量正常但焊缝仍然发黑，请提交工单，并附上焊缝和减压阀
的照片。
""",
    ),
]


def seed() -> int:
    """Create the demo articles that do not exist yet; return how many were created."""
    codes = {fc.code: fc for fc in FaultCode.objects.all()}
    models = {m.code: m for m in MachineModel.objects.all()}
    existing = set(Article.objects.values_list("language", "title"))
    created = 0
    for language, title, fault_codes, machine_models, body in ARTICLES:
        if (language, title) in existing:
            continue
        services.article_create(
            actor="system:seed",
            title=title,
            body=_CJK_WRAP.sub("", body) if language == "zh-hans" else body,
            language=language,
            machine_models=[models[c] for c in machine_models if c in models],
            fault_codes=[codes[c] for c in fault_codes if c in codes],
            is_published=True,
        )
        created += 1
    return created
