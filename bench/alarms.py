"""Machines' alarms through the API (issue 23, point 6): 1,000 alarms a second from 2,000
machines for 60 s, in batches of 50, against the floor of the same request in the same run.

*The world* (bench/ticket_data.py's builder, through the services): the desk's calendar,
SLA policies, staff and queues, 8 organisations of 250 machines (2,000 times --scale), one
alarms key per organisation (its gateway posts for all its machines), and the alarm rules of
RULES saved through intake's rule service.

*The stream* (seeded, composed before the run, so the clients only send): a batch is 50
alarms of one machine, the URL carrying its serial. Each machine walks its own clock: codes
drawn from CODES (each with its own severities), a repeat of its previous code with
probability REPEAT (a chattering sensor: seconds apart), otherwise about a minute apart, now
and then a quiet spell of half an hour to two hours that outlasts the merge windows. Half of
the batches come from a tenth of the machines (machines in trouble send again and again, so
repeats meet the ticket a previous batch opened), the rest from all. A share of the batches
(RETRIES) is sent a second time 1-3 s later, as a gateway retries: they must store nothing.

*The model* (`expected`) applies RULES, read from AlarmRule's documentation and not from
intake's code, to each machine's alarms in its order of time: a rule of the alarm's code wins
over the catch-all, the first whose lowest severity the alarm reaches decides; an alarm of a
ticket-opening rule joins the open ticket of its (machine, code) when it is within the rule's
window of that ticket's last alarm, else opens one. After the run the database's
machine-channel tickets must equal its count exactly, and the stored alarms the unique ones.

*The run*: gunicorn with sync workers, as the tickets benchmark serves (bench/loadgen.py),
driven open-loop: a batch every 50 ms whether or not the earlier ones were answered (a
machine's own batches wait for its previous answer, as its gateway would). Phases: a warm-up
of the stream, the floor, the measured stream, the floor again. The floor is
`POST /bench/floor/token/units/{serial}/alarms` (bench/floor/api.py, `AlarmsFloorApi`): the
same key, URL shape and body, parsed by the same parser, one bulk insert of a row per alarm.
Reported: offered and accepted alarms a second, a batch's p50/p95/p99 from its sending and
from its scheduled time (that one shows a server falling behind), errors, tickets opened
against the model, and the CPU time per alarm of the server's processes and of the
database's backends in each phase (`loadgen.CpuMeter`), then one batch in-process (queries,
latency). BENCH_PROFILE=1 records the server's workers with py-spy during the measured
stream (kept in bench/results/) and profiles 100 batches in-process with cProfile.

Knobs (PostgreSQL default / SQLite smoke default): BENCH_ALARMS_RATE (1000 / 200 alarms a
second), BENCH_ALARMS_BATCH (50), BENCH_ALARMS_SECONDS (60 / 5), BENCH_ALARMS_WARMUP (5 / 1),
BENCH_ALARMS_FLOOR_SECONDS (10 / 2, each side), BENCH_ALARMS_SENDERS (64 client threads),
BENCH_WORKERS (4 sync workers), DB_CONN_MAX_AGE (60). `--scale` multiplies the machines.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import ApiScope
from accounts.services.api_keys import api_key_create
from bench.loadgen import (
    ROOT,
    Address,
    Answer,
    CpuMeter,
    Shot,
    as_in_production,
    load_average,
    pace,
    serve,
    summary,
)
from bench.ticket_data import _build_world
from bench.tickets import forget_queued_tasks, in_process, machine
from equipment.models import Alarm
from intake.alarms.rules import rule_save
from intake.models import AlarmRule, AlarmTicket
from tickets.models import Channel, Ticket

SEED = 20261208
UNITS = 2_000
ORGANISATIONS = 8
NOISY_SHARE = 0.1  # a tenth of the machines ...
NOISY_BATCHES = 0.5  # ... sends half of the batches
REPEAT = 0.4  # the next alarm repeats the machine's previous code
QUIET = 0.03  # the next alarm comes after a quiet spell of 30-120 minutes
RETRIES = 0.03  # batches sent again, 1-3 s later
ALARMS_API = "/api/v1/units/{serial}/alarms"
FLOOR_API = "/bench/floor/token/units/{serial}/alarms"


@dataclass(frozen=True)
class Rule:
    code: str  # blank: every code
    min_severity: str
    opens_ticket: bool
    merge_minutes: int
    priority: int = 2
    note: str = ""


# Saved in this order (ids ascending), as supervisors would keep them.
RULES = (
    Rule("", "critical", True, 30, note="Every stop opens a P2 ticket; repeats join for 30 min"),
    Rule("E-301", "info", False, 0, note="Protective window dirty: the operator cleans it"),
    Rule("E-120", "major", True, 10, priority=3, note="Shielding gas: from major, 10 min"),
)
RANK = {"info": 0, "minor": 1, "major": 2, "critical": 3}

# code: (share of alarms, severities' weights, message, the measured value it carries)
CODES: dict[str, tuple[int, dict[str, int], str, str | None]] = {
    "I-001": (30, {"info": 1}, "Self-test passed", None),
    "W-010": (18, {"info": 5, "minor": 4, "major": 1}, "Wire feed slipping", "wire_feed_m_min"),
    "W-220": (14, {"minor": 16, "major": 4}, "Optics hot", "temperature_c"),
    "E-301": (10, {"minor": 10, "major": 6, "critical": 4}, "Protective window dirty", None),
    "E-120": (12, {"minor": 30, "major": 3, "critical": 1}, "Shielding gas low", "gas_flow_l_min"),
    "E-201": (7, {"minor": 8, "major": 3, "critical": 1}, "Chiller flow low", "temperature_c"),
    "E-404": (6, {"minor": 6, "major": 5, "critical": 1}, "Laser power low", "laser_power_w"),
    "E-512": (3, {"minor": 5, "major": 4, "critical": 1}, "Cell interlock open", None),
}
VALUES = {
    "wire_feed_m_min": (2.0, 14.0),
    "temperature_c": (25.0, 60.0),
    "gas_flow_l_min": (4.0, 25.0),
    "laser_power_w": (800.0, 6000.0),
}
MACHINE_TZ = dt.timezone(dt.timedelta(hours=8))  # the gateways send China time, with offset


def _knob(name: str, postgres: float, sqlite: float) -> float:
    return float(os.environ.get(name, postgres if connection.vendor == "postgresql" else sqlite))


# ---------------------------------------------------------------------------------- stream


@dataclass(frozen=True)
class Reported:
    """One alarm as the machine reports it; `second` is on the machine's own clock."""

    alarm_id: str
    code: str
    severity: str
    second: int
    value: tuple[str, float] | None


class Machine:
    """One machine's alarms in its own order of time (see the module)."""

    def __init__(self, unit: int, serial: str) -> None:
        self.unit = unit
        self.serial = serial
        self.clock = 0
        self.sent = 0
        self.last: tuple[str, str] | None = None  # its previous alarm's code and severity

    def take(self, n: int, rng: random.Random) -> list[Reported]:
        codes, weights = list(CODES), [c[0] for c in CODES.values()]
        out = []
        for _ in range(n):
            if self.last is not None and rng.random() < REPEAT:
                # The same alarm again: a sensor chattering about its threshold.
                self.clock += rng.randint(2, 60)
                code, severity = self.last
            else:
                if rng.random() < QUIET:
                    self.clock += rng.randint(30 * 60, 120 * 60)
                else:
                    self.clock += 1 + int(rng.expovariate(1 / 60))
                code = rng.choices(codes, weights)[0]
                severities = CODES[code][1]
                severity = rng.choices(list(severities), list(severities.values()))[0]
            measured = CODES[code][3]
            value = None
            if measured:
                low, high = VALUES[measured]
                value = (measured, round(rng.uniform(low, high), 1))
            self.sent += 1
            alarm_id = f"{self.serial}-{self.sent:07d}"
            out.append(Reported(alarm_id, code, severity, self.clock, value))
            self.last = (code, severity)
        return out


@dataclass
class Batch:
    machine: Machine
    alarms: list[Reported]

    def body(self, end: dt.datetime) -> bytes:
        """The JSON body, the machine's clock ending at `end` (its last alarm then)."""
        alarms = []
        for a in self.alarms:
            at = end - dt.timedelta(seconds=self.machine.clock - a.second)
            alarm: dict[str, Any] = {
                "alarm_id": a.alarm_id,
                "code": a.code,
                "severity": a.severity,
                "occurred_at": at.astimezone(MACHINE_TZ).isoformat(),
                "message": CODES[a.code][2],
            }
            if a.value:
                alarm[a.value[0]] = a.value[1]
            if a.code == "I-001":
                alarm["state"] = "running"  # the self-test after a stop: running again
            alarms.append(alarm)
        return json.dumps({"alarms": alarms}).encode()


def compose(machines: list[Machine], n_batches: int, size: int, rng: random.Random) -> list[Batch]:
    """The stream's batches in sending order (see the module)."""
    noisy = machines[: max(1, round(len(machines) * NOISY_SHARE))]
    batches = []
    for _ in range(n_batches):
        pool = noisy if rng.random() < NOISY_BATCHES else machines
        m = rng.choice(pool)
        batches.append(Batch(m, m.take(size, rng)))
    return batches


def rule_for(code: str, severity: str) -> Rule | None:
    """The rule deciding an alarm, as AlarmRule's documentation says."""
    own = [r for r in RULES if r.code == code]
    catch_all = [r for r in RULES if r.code == ""]
    for rule in own + catch_all:
        if RANK[severity] >= RANK[rule.min_severity]:
            return rule
    return None


def expected(batches: list[Batch]) -> dict[str, int]:
    """What the rules make of the batches: tickets opened, repeats joined, and the alarms
    that opened none (ignored by a rule, or below every rule)."""
    last: dict[tuple[int, str], int] = {}  # the open ticket's last alarm, per (machine, code)
    counts = Counter()
    for batch in batches:
        for a in sorted(batch.alarms, key=lambda a: (a.second, a.alarm_id)):
            counts["alarms"] += 1
            rule = rule_for(a.code, a.severity)
            if rule is None:
                counts["unmatched"] += 1
            elif not rule.opens_ticket:
                counts["ignored"] += 1
            else:
                key = (batch.machine.unit, a.code)
                if key in last and a.second <= last[key] + rule.merge_minutes * 60:
                    last[key] = max(last[key], a.second)
                    counts["joined"] += 1
                else:
                    last[key] = a.second
                    counts["opened"] += 1
    return dict(counts)


# ---------------------------------------------------------------------------------- world


def _world(units: int, organisations: int) -> tuple[list[Machine], dict[int, str]]:
    """The desk, its machines and one alarms key per organisation; the rules saved."""
    per_org = max(1, units // organisations)
    world = _build_world(
        scale=1.0,
        rng=random.Random(SEED),
        now=timezone.now(),
        organisations=organisations,
        units_per_org=per_org,
    )
    headers: dict[int, str] = {}
    machines = []
    for org in world.orgs:
        _key, token = api_key_create(
            actor=world.supervisor, organisation=org, name="Gateway", scope=ApiScope.ALARMS
        )
        for unit in world.units[org.pk]:
            headers[len(machines)] = f"Api-Key {token}"
            machines.append(Machine(len(machines), unit.serial_number))
    for r in RULES:  # Rule's fields are AlarmRule's
        fields = asdict(r)
        rule_save(rule=AlarmRule(**fields), actor=world.supervisor, changed=list(fields))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return machines, headers


# ---------------------------------------------------------------------------------- phases


@dataclass
class Phase:
    """One paced run: its shots, the stream's batch each sends and whether it is a retry,
    and what came back."""

    label: str
    seconds: float
    shots: list[Shot]
    batch_of: list[int]
    retry: list[bool]
    answers: list[Answer] | None = None
    cpu: dict[str, float] | None = None
    client_cpu: float | None = None
    load_average: tuple[float | None, float | None] = (None, None)


def _phase(
    label: str,
    batches: list[Batch],
    first: int,
    count: int,
    *,
    path: str,
    bodies: list[bytes],
    headers: dict[int, str],
    per_second: float,
    rng: random.Random,
    retries: float,
) -> Phase:
    """Shots for batches first..first+count, one every 1/per_second s, with retries."""
    timed = []
    for k in range(count):
        i = first + k
        at = k / per_second
        timed.append((at, i, False))
        if retries and rng.random() < retries:
            timed.append((at + rng.uniform(1, 3), i, True))
    timed.sort(key=lambda t: (t[0], t[2]))
    shots, batch_of, retry = [], [], []
    previous: dict[int, int] = {}  # a machine's last shot so far
    for at, i, again in timed:
        m = batches[i].machine
        shots.append(
            Shot(
                at=at,
                path=path.format(serial=m.serial),
                body=bodies[i],
                headers={"Authorization": headers[m.unit]},
                after=previous.get(m.unit),
            )
        )
        previous[m.unit] = len(shots) - 1
        batch_of.append(i)
        retry.append(again)
    return Phase(label, count / per_second, shots, batch_of, retry)


def _run_phase(address: Address, phase: Phase, senders: int, *, meter: bool = True) -> None:
    before = load_average()
    if meter:
        with CpuMeter(address) as cpu:
            phase.answers = pace(address, phase.shots, senders=senders)
        phase.cpu, phase.client_cpu = cpu.seconds, cpu.client
    else:
        phase.answers = pace(address, phase.shots, senders=senders)
    phase.load_average = (before, load_average())


def _body(answer: Answer) -> dict[str, Any]:
    try:
        return json.loads(answer.data) if answer.ok else {}
    except ValueError:
        return {}


def _figures(phase: Phase, size: int) -> dict[str, Any]:
    """Rates, latencies, errors and CPU per alarm of a phase (see the module)."""
    assert phase.answers is not None
    window = phase.seconds or 1.0  # a warm-up of 0 s has no shots
    bodies = [_body(a) for a in phase.answers]
    new = [k for k, again in enumerate(phase.retry) if not again]
    offered = sum(size for k in new if phase.shots[k].at < window)
    in_window = sum(
        b.get("accepted", 0) for a, b in zip(phase.answers, bodies, strict=True) if a.done <= window
    )
    accepted = sum(b.get("accepted", 0) for b in bodies)
    codes = Counter(a.status for a in phase.answers)
    sent = [a.done - a.sent for a in phase.answers if a.ok]
    lag = [a.done - s.at for a, s in zip(phase.answers, phase.shots, strict=True) if a.ok]
    last = max((a.done for a in phase.answers), default=0.0)
    out: dict[str, Any] = {
        "seconds": round(window, 1),
        "batches": len(new),
        "retries": len(phase.shots) - len(new),
        "offered_per_s": round(offered / window, 1),
        "accepted_per_s": round(in_window / window, 1),
        "accepted": accepted,
        "drained_after_s": round(last, 2),
        "answers": {str(k): v for k, v in sorted(codes.items(), key=str)},
        "errors": sum(v for k, v in codes.items() if not (isinstance(k, int) and k < 300)),
        "latency": summary(sent, p99=True),
        "latency_from_schedule": summary(lag, p99=True),
        "load_average": {"before": phase.load_average[0], "after": phase.load_average[1]},
    }
    # Alarms accepted per 5 s of the phase, by the time of their answer: steady or falling behind.
    per_slice: Counter = Counter()
    for a, b in zip(phase.answers, bodies, strict=True):
        per_slice[int(a.done // 5) * 5] += b.get("accepted", 0)
    out["accepted_per_s_by_5s"] = {f"{k}s": round(v / 5) for k, v in sorted(per_slice.items())}
    if phase.cpu is not None and accepted:
        out["cpu_seconds"] = phase.cpu
        out["client_cpu_seconds"] = phase.client_cpu
        out["cpu_ms_per_alarm"] = {
            kind: round(seconds * 1000 / accepted, 3) for kind, seconds in phase.cpu.items()
        }
        out["cpu_ms_per_alarm"]["total"] = round(sum(phase.cpu.values()) * 1000 / accepted, 3)
    return out


def _print(label: str, f: dict[str, Any]) -> None:
    lat, lag, cpu = f["latency"], f["latency_from_schedule"], f.get("cpu_ms_per_alarm", {})
    rates = f"offered {f['offered_per_s']:>7,.0f}/s  accepted {f['accepted_per_s']:>7,.0f}/s"
    batch = (
        f"batch p50 {lat['median_ms']:>6.1f}  p95 {lat['p95_ms']:>6.1f}  p99 {lat['p99_ms']:>6.1f}"
    )
    cost = f"cpu/alarm {cpu.get('total', 0):.3f} ms (server {cpu.get('server', 0):.3f}"
    load = f"load {f['load_average']['before']}->{f['load_average']['after']}"
    print(
        f"    {label:<13} {rates}  {batch} ms (from schedule p99 {lag['p99_ms']:.1f})  errors "
        f"{f['errors']}  {cost}, database {cpu.get('database', 0):.3f})  {load}",
        flush=True,
    )


# ---------------------------------------------------------------------------------- profile


def _py_spy(address: Address) -> tuple[subprocess.Popen, Path]:
    """py-spy recording the server's master and workers (raw stacks) until stopped."""
    out = ROOT / "bench" / "results" / f"pyspy-alarms-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid"]
    command += [str(address.groups[0]), "--subprocesses", "--nonblocking", "--rate", "100"]
    command += ["--format", "raw", "--output", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, out


def _hot(path: Path, top: int = 30) -> dict[str, Any]:
    """Where the workers' sampled time went: the share of the samples each of the desk's own
    functions was on the stack for (inclusive), and the share in psycopg sending a statement
    or waiting for its answer (the database's round trips, its work and any lock waits)."""
    packages = {d.name for d in ROOT.iterdir() if (d / "__init__.py").exists()}
    inclusive: Counter = Counter()
    total = database = 0
    for line in path.read_text().splitlines():
        stack, _sep, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if any(f.startswith(("Connection.wait (", "BaseCursor._send_query")) for f in frames):
            database += n
        own = set()
        for frame in frames:
            name, _sep, where = frame.partition(" (")
            file = where.rsplit(":", 1)[0]
            if file.split("/", 1)[0] in packages:
                own.add(f"{name} ({file})")
        for key in own:
            inclusive[key] += n
    if not total:
        return {}
    return {
        "samples": total,
        "database_round_trips_percent": round(100 * database / total, 1),
        "inclusive_percent": {k: round(100 * n / total, 1) for k, n in inclusive.most_common(top)},
    }


# ---------------------------------------------------------------------------------- run


def run(*, scale: float = 1.0) -> dict[str, Any]:
    return as_in_production(_run, scale=scale)


def _run(*, scale: float) -> dict[str, Any]:
    rate = _knob("BENCH_ALARMS_RATE", 1000, 200)
    size = int(_knob("BENCH_ALARMS_BATCH", 50, 50))
    seconds = _knob("BENCH_ALARMS_SECONDS", 60, 5)
    warmup = _knob("BENCH_ALARMS_WARMUP", 5, 1)
    floor_seconds = _knob("BENCH_ALARMS_FLOOR_SECONDS", 10, 2)
    senders = int(_knob("BENCH_ALARMS_SENDERS", 64, 64))
    workers = int(os.environ.get("BENCH_WORKERS", "4"))
    profile = bool(os.environ.get("BENCH_PROFILE"))
    units = max(40, round(UNITS * scale))
    organisations = min(ORGANISATIONS, max(1, units // 20))
    per_second = rate / size

    started = time.perf_counter()
    print(f"  seeding: {units:,} machines of {organisations} organisations ...", flush=True)
    machines, headers = _world(units, organisations)
    results: dict[str, Any] = {
        "machine": machine(),
        "units": len(machines),
        "organisations": organisations,
        "rules": [asdict(r) for r in RULES],
        "rate": rate,
        "batch": size,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "floor_seconds": floor_seconds,
        "senders": senders,
        "workers": workers,
        "server": "gunicorn, sync workers, DEBUG off; floor and alarms in the same server",
        "seed_seconds": round(time.perf_counter() - started, 1),
    }
    rng = random.Random(SEED)
    n_warm, n_measured = round(per_second * warmup), max(1, round(per_second * seconds))
    batches = compose(machines, n_warm + n_measured, size, rng)
    end = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=2)
    bodies = [b.body(end) for b in batches]
    model = expected(batches)
    results["stream"] = {
        "batches": len(batches),
        "alarms": model["alarms"],
        "machines_reporting": len({b.machine.unit for b in batches}),
        "codes": dict(Counter(a.code for b in batches for a in b.alarms)),
        "severities": dict(Counter(a.severity for b in batches for a in b.alarms)),
        "repeats_of_previous_code": sum(
            x.code == y.code for b in batches for x, y in zip(b.alarms, b.alarms[1:], strict=False)
        ),
        "expected": model,
    }
    print(
        f"  stream: {len(batches):,} batches of {size} ({model['alarms']:,} alarms) from "
        f"{results['stream']['machines_reporting']:,} machines; the rules expect "
        f"{model.get('opened', 0):,} tickets and {model.get('joined', 0):,} repeats joined",
        flush=True,
    )
    # The floor sends the measured batches' bodies again (it stores no alarm).
    n_floor = max(1, min(round(per_second * floor_seconds), n_measured))
    phases = [
        _phase(
            label,
            batches,
            first,
            count,
            path=path,
            bodies=bodies,
            headers=headers,
            per_second=per_second,
            rng=rng,
            retries=retries,
        )
        for label, first, count, path, retries in (
            ("warm-up", 0, n_warm, ALARMS_API, RETRIES),
            ("floor", n_warm, n_floor, FLOOR_API, 0),
            ("alarms", n_warm, n_measured, ALARMS_API, RETRIES),
            ("floor, after", n_warm, n_floor, FLOOR_API, 0),
        )
    ]
    log_path = ROOT / "var" / "bench-gunicorn.log"
    print(
        f"  paced: {rate:,.0f} alarms/s = {per_second:g} batches/s of {size}, gunicorn {workers} "
        f"sync workers, {senders} sender threads; warm-up {warmup:g} s, floor {floor_seconds:g} s,"
        f" alarms {seconds:g} s, floor {floor_seconds:g} s (server log: var/{log_path.name})",
        flush=True,
    )
    spy = None
    try:
        with serve(workers=workers, log_path=log_path) as address:
            for phase in phases:
                if profile and phase.label == "alarms":
                    spy = _py_spy(address)
                _run_phase(address, phase, senders, meter=phase.label != "warm-up")
                if spy and spy[0].poll() is None:
                    spy[0].send_signal(signal.SIGINT)
                    spy[0].wait(timeout=60)
    finally:
        forget_queued_tasks()

    figures = {p.label: _figures(p, size) for p in phases}
    results["phases"] = figures
    print("  phases:")
    for label, f in figures.items():
        _print(label, f)
    floors = [figures["floor"], figures["floor, after"]]
    floor_cpu = sum(sum(f.get("cpu_seconds", {}).values()) for f in floors)
    floor_alarms = sum(f["accepted"] for f in floors)
    floor_ms = round(floor_cpu * 1000 / floor_alarms, 3) if floor_alarms else None
    alarms_ms = figures["alarms"].get("cpu_ms_per_alarm", {}).get("total")
    results["cost_per_alarm_ms"] = {
        "alarms": alarms_ms,
        "floor": floor_ms,
        "ratio": round(alarms_ms / floor_ms, 2) if alarms_ms and floor_ms else None,
    }
    print(
        f"  cost per alarm (CPU of server + database): alarms {alarms_ms} ms, floor {floor_ms} ms"
        f" ({results['cost_per_alarm_ms']['ratio']}x)"
    )

    results["check"] = _check(batches, [phases[0], phases[2]], size, model)
    target = rate * 0.99
    results["target_met"] = bool(
        figures["alarms"]["accepted_per_s"] >= target
        and figures["alarms"]["errors"] == 0
        and results["check"]["exact"]
    )
    print(
        f"  target ({rate:,.0f} alarms/s accepted, no error, the count exact): "
        f"{'met' if results['target_met'] else 'NOT MET'}"
    )

    if spy:
        hot = _hot(spy[1])
        results["py_spy"] = {"file": str(spy[1].relative_to(ROOT)), **hot}
        print(
            f"  py-spy of the workers during the alarms (kept in {spy[1].relative_to(ROOT)}): "
            f"{hot.get('samples', 0):,} samples, {hot.get('database_round_trips_percent')} % "
            "in psycopg (statements sent, answers awaited); the desk's functions, inclusive:"
        )
        for key, share in hot.get("inclusive_percent", {}).items():
            print(f"    {share:5.1f} %  {key}")
    results["in_process"] = _in_process(machines, batches, headers, size)
    forget_queued_tasks()
    return results


def _check(batches: list[Batch], phases: list[Phase], size: int, model: dict) -> dict[str, Any]:
    """The database against the model, and the retries against what they must do."""
    stored = {i for p in phases for i, a in zip(p.batch_of, p.answers or [], strict=True) if a.ok}
    if len(stored) != len(batches):
        # A batch answered with an error stored nothing: the model takes only the others.
        model = expected([b for i, b in enumerate(batches) if i in stored])
    bodies = [(p, k, _body(a)) for p in phases for k, a in enumerate(p.answers or [])]
    retries = [b for p, k, b in bodies if p.retry[k]]
    links = AlarmTicket.objects.aggregate(n=Count("pk"), repeats=Sum("repeats"))
    check = {
        "tickets": Ticket.objects.filter(channel=Channel.MACHINE).count(),
        "tickets_expected": model.get("opened", 0),
        "tickets_in_answers": sum(len(b.get("opened", [])) for _p, _k, b in bodies),
        "alarm_tickets": links["n"],
        "joined": links["repeats"] or 0,
        "joined_expected": model.get("joined", 0),
        "alarms_stored": Alarm.objects.count(),
        "alarms_sent_unique": sum(len(batches[i].alarms) for i in stored),
        "retries": len(retries),
        "retries_storing_nothing": sum(
            b.get("accepted") == 0 and b.get("duplicates") == size for b in retries
        ),
    }
    check["exact"] = (
        check["tickets"] == check["tickets_expected"] == check["alarm_tickets"]
        and check["joined"] == check["joined_expected"]
        and check["alarms_stored"] == check["alarms_sent_unique"]
        and check["retries"] == check["retries_storing_nothing"]
    )
    print(
        f"  tickets opened: {check['tickets']:,} in the database, {check['tickets_expected']:,} "
        f"expected by the rules ({'exact' if check['exact'] else 'MISMATCH'}); repeats joined "
        f"{check['joined']:,} (expected {check['joined_expected']:,}); alarms stored "
        f"{check['alarms_stored']:,} of {check['alarms_sent_unique']:,} sent; retries "
        f"{check['retries_storing_nothing']} of {check['retries']} stored nothing"
    )
    return check


def _in_process(
    machines: list[Machine], batches: list[Batch], headers: dict[int, str], size: int
) -> dict[str, Any]:
    """One batch at a time in the bench process, for a machine the stream never used: the
    alarms endpoint and its floor (queries, latency; BENCH_PROFILE=1: cProfile of 100)."""
    used = {b.machine.unit for b in batches}
    spare = next((m for m in reversed(machines) if m.unit not in used), machines[-1])
    rng = random.Random(SEED + 1)
    out = {}
    for label, path in (("alarms", ALARMS_API), ("floor", FLOOR_API)):
        m = Machine(spare.unit, spare.serial)
        # Times run forward from 25 days ago (the API takes alarms up to 30 days old).
        origin = timezone.now().replace(microsecond=0) - dt.timedelta(days=25)

        def body(_i: int, _n: int, m: Machine = m, origin: dt.datetime = origin) -> bytes:
            batch = Batch(m, m.take(size, rng))
            return batch.body(origin + dt.timedelta(seconds=m.clock))

        out[label] = r = in_process(
            path.format(serial=m.serial), body, {"Authorization": headers[m.unit]}
        )
        per = r["sequential"]["median_ms"]
        print(
            f"  in-process, one batch of {size} after another ({label}): {r['queries']} queries, "
            f"median {per} ms ({per / size:.3f} ms an alarm)"
        )
    return out
