"""The Grafana dashboards in deploy/grafana chart only metrics the desk exports.

A dashboard whose query names a metric nobody exports draws an empty panel that looks like
"all quiet": the worst way for a chart to be wrong. So every PromQL expression of every
dashboard (panel queries and query variables) is read for the metric names it selects, and
each name must be a series of a real /metrics scrape, made after a little of everything (a
request, a refusal, calls on a line, a breached ticket, a Redis broker with queued tasks).
Series names are compared as Prometheus stores them: a counter as `..._total`, a histogram as
`..._bucket`, `..._sum` and `..._count`, so a query of a histogram's bare name fails too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from core import health

pytestmark = pytest.mark.django_db

GRAFANA = Path(django_settings.BASE_DIR) / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))

# PromQL words that are neither metrics nor followed by "(".
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # label lists
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)  # Grafana variables
    names = set()
    for match in _NAME.finditer(text):
        word, before, after = match.group(), text[: match.start()], text[match.end() :]
        if re.match(r"\s*\(", after) or word.lower() in _KEYWORDS:
            continue  # a function or aggregation, or an operator
        if before[-1:].isdigit() or before[-1:] == ".":
            continue  # the exponent of a number (1e3)
        names.add(word)
    return names


def variable_metric(query: str) -> str:
    """The metric of a `label_values(metric, label)` variable query."""
    match = re.fullmatch(r"\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*\w+\s*\)\s*", query)
    assert match, f"variable query {query!r} is not label_values(metric, label)"
    return match.group(1)


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return found


def queries(dashboard: dict) -> list[tuple[str, set[str]]]:
    """(where, metric names) for every query of the dashboard."""
    found = []
    for panel in panels(dashboard):
        for t in panel.get("targets", []):
            found.append((f"{panel['title']} [{t['refId']}]: {t['expr']}", metric_names(t["expr"])))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            found.append((f"variable {variable['name']}: {query}", {variable_metric(query)}))
    return found


class QueuedBroker:
    """A Redis broker as kombu leaves it: one list per queue and priority step."""

    lists = {"celery": 3, "celery\x06\x163": 1, "audit-anchor": 2}

    def ping(self) -> bool:
        return True

    def llen(self, key: str) -> int:
        return self.lists.get(key, 0)


@pytest.fixture
def broker(settings, monkeypatch):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://broker.test:6379/0"
    settings.CELERY_TASK_ROUTES = {"audit.checkpoint": {"queue": "audit-anchor"}}
    monkeypatch.setattr(health, "_client", lambda url: QueuedBroker())


@pytest.fixture
def scrape(broker, open_ticket) -> set[str]:
    """Series names of a /metrics scrape after a little of everything."""
    from intake.services import call_event
    from tickets.services import escalation

    now = timezone.now()
    for kind, minutes in (("started", 3), ("answered", 2), ("ended", 1)):
        call_event(call_id="g1", line="east", event=kind, at=now - dt.timedelta(minutes=minutes))
    open_ticket(now=now - dt.timedelta(days=10))
    escalation.sla_scan(now=now)
    Client(enforce_csrf_checks=True).post("/accounts/login/", {"email": "a@b.c"})  # a 403
    client = Client()
    assert client.get("/healthz").status_code == 200  # a request, timed
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    return {s.name for f in text_string_to_metric_families(body) for s in f.samples}


def test_the_name_reader_finds_metrics_not_functions_labels_or_variables():
    assert metric_names(
        'histogram_quantile(0.95, sum by (le, route) (rate(welddesk_x_bucket{route=~"$route"}'
        "[$__rate_interval])))"
    ) == {"welddesk_x_bucket"}
    assert metric_names(
        'label_replace(sum by (line) (increase(a_total[15m])) / on (line) b_total < 0.9, "c", '
        '"hotline-$1", "line", "(.*)") and time() - max(c_seconds offset 1h) > 1e3'
    ) == {"a_total", "b_total", "c_seconds"}
    assert metric_names("max(welddesk_nobody_exports_this)") == {"welddesk_nobody_exports_this"}
    assert variable_metric("label_values(welddesk_http_requests_total, route)") == (
        "welddesk_http_requests_total"
    )


def test_every_dashboard_query_names_only_metrics_the_desk_exports(scrape):
    assert DASHBOARDS, "no dashboards in deploy/grafana/dashboards"
    unknown = []
    for path in DASHBOARDS:
        for where, names in queries(json.loads(path.read_text())):
            assert names, f"{path.name}: {where} names no metric"
            unknown += [f"{path.name}: {where}: {name}" for name in sorted(names - scrape)]
    assert not unknown, "metrics the desk does not export:\n" + "\n".join(unknown)


def test_the_dashboards_chart_what_supervisors_and_operators_asked_for():
    used = {
        name
        for path in DASHBOARDS
        for _, names in queries(json.loads(path.read_text()))
        for name in names
    }
    assert {
        "welddesk_phone_answer_rate",  # answer rate per line ...
        "welddesk_phone_answer_rate_threshold",  # ... with its 90 % line
        "welddesk_tickets_sla_breached",
        "welddesk_chat_waiting",
        "welddesk_chat_longest_wait_seconds",
        "welddesk_outbox_messages",  # backlog and failures
        "welddesk_outbox_oldest_pending_seconds",
        "welddesk_audit_oldest_pending_seconds",  # sealing lag
        "welddesk_celery_queue_length",
        "welddesk_http_requests_total",  # request rate per view
        "welddesk_http_request_duration_seconds_bucket",  # latency per view
    } <= used


def test_dashboards_are_provisionable_and_ask_for_the_provisioned_datasource():
    (datasource,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "welddesk.yml").read_text()
    )["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "${WELDDESK_PROMETHEUS_URL}"
    (provider,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "welddesk.yml").read_text()
    )["providers"]
    assert provider["type"] == "file" and provider["folder"] == "WeldDesk"
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids and len(dashboard["uid"]) <= 40
        uids.add(dashboard["uid"])
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        chooser = variables["datasource"]
        assert (chooser["type"], chooser["query"]) == ("datasource", "prometheus")
        assert chooser["current"]["value"] == datasource["uid"]
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            sources = [panel["datasource"]] + [t["datasource"] for t in panel["targets"]]
            assert all(s == {"type": "prometheus", "uid": "${datasource}"} for s in sources), (
                f"{path.name}: {panel['title']} does not use the datasource variable"
            )
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{path.name}: {panel['title']} is too wide"


def test_celery_queue_depth_counts_every_priority_list_of_each_queue(broker):
    (gauge,) = health.celery_metrics()
    assert gauge.name == "welddesk_celery_queue_length"
    assert {s.labels["queue"]: s.value for s in gauge.samples} == {"audit-anchor": 2, "celery": 4}


def test_celery_queue_depth_is_absent_without_a_redis_broker(settings):
    settings.CELERY_BROKER_URL = "memory://localhost/"
    assert list(health.celery_metrics()) == []


def test_celery_queue_depth_is_absent_while_redis_does_not_answer(broker, monkeypatch):
    class Down(QueuedBroker):
        def llen(self, key: str) -> int:
            raise ConnectionError("refused")

    monkeypatch.setattr(health, "_client", lambda url: Down())
    assert list(health.celery_metrics()) == []


@pytest.mark.redis
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_celery_queue_depth_reads_the_lists_kombu_really_writes(settings, monkeypatch):
    """Tasks sent through the real Redis transport, at two priorities (kombu keeps priority 5
    in a second list, "<queue>\x06\x163"), are all counted."""
    import os
    import uuid

    from servicedesk.celery import app

    url = os.environ["REDIS_URL"]
    queue = f"grafana-test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_BROKER_URL = url
    settings.CELERY_TASK_ROUTES = {"audit.checkpoint": {"queue": queue}}
    with app.connection_for_write(url) as connection:
        try:
            for priority in (0, 0, 5):
                app.send_task(
                    "audit.checkpoint", queue=queue, priority=priority, connection=connection
                )
            (gauge,) = health.celery_metrics()
            assert {s.labels["queue"]: s.value for s in gauge.samples}[queue] == 3
        finally:
            connection.default_channel.queue_delete(queue)
