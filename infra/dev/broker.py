"""The project's own single-node Apache Kafka broker (KRaft, broker and controller in one).

`python -m infra.dev.broker start|stop|status|address` is what `make broker`,
`make broker-stop` and `make broker-status` call. The jars come from Maven Central
through infra/dev/pom.xml into `.cache/kafka/<version>/libs`, once. The broker keeps
its data, pid, log and chosen ports in `.cache/broker/` (SCORER_BROKER_DIR), so a later
command finds it, and a broker killed without notice leaves nothing that blocks the next start.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import cast

from infra.kafka.cluster import (
    BrokerError,
    BrokerState,
    bootstrap_servers,
    is_local_broker,
    running,
    state_dir,
)
from infra.kafka.settings import kafka_settings
from schemas.errors import ScorerError

HERE = Path(__file__).resolve().parent
START_TIMEOUT_S = 120.0
START_ATTEMPTS = 3
STOP_TIMEOUT_S = 30.0


def _cache_dir() -> Path:
    return kafka_settings().scorer_cache_dir


def kafka_version() -> str:
    """The broker release to run: KAFKA_VERSION, or the pinned default."""
    return kafka_settings().kafka_version


def libs_dir(version: str) -> Path:
    return _cache_dir() / "kafka" / version / "libs"


def ensure_jars(version: str) -> Path:
    """Resolve the broker's jars through Maven once; later calls reuse the cache."""
    libs = libs_dir(version)
    done = libs / ".complete"
    if done.exists():
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is not on PATH; install it to fetch the Kafka jars")
    if libs.exists():
        shutil.rmtree(libs)
    profile = "kafka4" if version.startswith("4.") else "kafka3"
    print(f"Fetching Apache Kafka {version} jars from Maven Central (once) ...", flush=True)
    cmd = [
        "mvn",
        "-B",
        "-f",
        str(HERE / "pom.xml"),
        "-P",
        profile,
        f"-Dkafka.version={version}",
        f"-Dmaven.repo.local={_cache_dir() / 'm2'}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
    ]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise BrokerError(f"Maven could not resolve org.apache.kafka:kafka_2.13:{version}")
    done.touch()
    return libs


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(preferred: int | None, avoid: set[int] | None = None) -> int:
    if preferred and preferred not in (avoid or set()) and _port_free(preferred):
        return preferred
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in (avoid or set()):
            return port


def cluster_at(bootstrap: str, timeout: float = 3.0) -> str | None:
    """The id of the cluster whose broker at bootstrap answers a topic-metadata request,
    or None when none answers."""
    from confluent_kafka.admin import AdminClient

    from infra.kafka.client import client_config

    admin = AdminClient(
        client_config(bootstrap, **{"socket.timeout.ms": int(timeout * 1000), "log_level": 0})
    )
    try:
        return str(admin.list_topics(timeout=timeout).cluster_id)
    except Exception:  # any KafkaException or timeout means "not ready yet"
        return None


def metadata_ok(bootstrap: str, timeout: float = 3.0) -> bool:
    """True when the broker at bootstrap answers a topic-metadata request."""
    return cluster_at(bootstrap, timeout) is not None


def own_cluster() -> str | None:
    """The cluster id the storage tool wrote into the local broker's data, if formatted."""
    try:
        lines = (state_dir() / "data" / "meta.properties").read_text().splitlines()
    except FileNotFoundError:
        return None
    return next(
        (line.split("=", 1)[1].strip() for line in lines if line.startswith("cluster.id=")), None
    )


def _prepare_data(version: str) -> Path:
    """The log folder, formatted for this version and listener; a folder from another
    release, or formatted without the SCRAM user a secure listener needs, is reset."""
    data = state_dir() / "data"
    marker = state_dir() / "data-version"
    made_for = f"{version} {kafka_settings().kafka_security_protocol}"
    if data.exists() and (not marker.exists() or marker.read_text().strip() != made_for):
        print(
            f"Resetting local broker data (was made by another Kafka release or for "
            f"another listener) in {data}"
        )
        shutil.rmtree(data)
    data.mkdir(parents=True, exist_ok=True)
    marker.write_text(made_for)
    return data


def _write_config(version: str, port: int, controller_port: int, data: Path) -> Path:
    template = string.Template((HERE / "server.properties.template").read_text())
    text = template.substitute(port=port, controller_port=controller_port, data_dir=data)
    if kafka_settings().secure:
        text = _secured(text, port, controller_port)
    props = state_dir() / "server.properties"
    props.touch(mode=0o600)
    props.chmod(0o600)  # it holds the keystore's and the broker user's passwords
    props.write_text(text)
    return props


def _secured(text: str, port: int, controller_port: int) -> str:
    """The broker's listener for clients and itself as SASL_SSL with SCRAM; the controller
    listener stays on loopback in plaintext (only this node speaks it)."""
    from infra.dev import tls

    conf = kafka_settings()
    user, password = _broker_credentials()
    folder = state_dir() / "tls"
    keystore = tls.make_broker_keystore(folder, tls.make_authority(folder))
    mechanism = conf.kafka_sasl_mechanism
    settings = {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": mechanism,
        "sasl.mechanism.inter.broker.protocol": mechanism,
        f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{user}" password="{password}";'
        ),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(keystore.store),
        "ssl.keystore.password": keystore.password,
        "ssl.key.password": keystore.password,
        # The broker is its own client on the same listener: it trusts the authority's
        # entry of its keystore.
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(keystore.store),
        "ssl.truststore.password": keystore.password,
    }
    kept = [line for line in text.splitlines() if line.split("=", 1)[0] not in settings]
    return (
        "\n".join(
            [
                *kept,
                "# SASL_SSL (KAFKA_SECURITY_PROTOCOL)",
                *(f"{k}={v}" for k, v in settings.items()),
            ]
        )
        + "\n"
    )


def _broker_credentials() -> tuple[str, str]:
    user, password = kafka_settings().sasl_credentials()
    if any(c in password for c in '"\\\n\r'):
        raise BrokerError(
            "the local broker cannot take a SASL password with quotes, "
            "backslashes or line breaks (KAFKA_SASL_PASSWORD_FILE)"
        )
    return user, password


def _java_cmd(version: str, libs: Path, main: list[str]) -> list[str]:
    if version.startswith("4."):
        logging = f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}"
    else:
        logging = f"-Dlog4j.configuration=file:{HERE / 'log4j.properties'}"
    heap = kafka_settings().kafka_heap
    return [
        "java",
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        logging,
        f"-Dkafka.logs.dir={state_dir() / 'logs'}",
        "-cp",
        f"{libs}/*",
        *main,
    ]


def _cluster_id() -> str:
    """A random Kafka cluster id (URL-safe base64 of 16 bytes), never starting with "-",
    which the storage tool's argument parser would take for an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _format_storage(version: str, libs: Path, props: Path, data: Path) -> None:
    if (data / "meta.properties").exists():
        return
    cluster_id = _cluster_id()
    scram = []
    if kafka_settings().secure:  # the SCRAM user exists from the first start on
        user, password = _broker_credentials()
        mechanism = kafka_settings().kafka_sasl_mechanism
        scram = ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
    cmd = _java_cmd(
        version,
        libs,
        ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), *scram],
    )
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = done.stdout + done.stderr
        if scram:
            said = said.replace(scram[1], "(the SCRAM user)")
        raise BrokerError(f"formatting {data} failed:\n{said}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class PortTaken(BrokerError):
    """Another Kafka cluster answers on the port this broker was started on."""


def start(version: str | None = None, timeout: float = START_TIMEOUT_S) -> BrokerState:
    """Start the local broker unless it already runs, and wait until metadata works."""
    version = version or kafka_version()
    current = running()
    if current is not None:
        if current.version != version:
            raise BrokerError(
                f"the local broker runs Kafka {current.version}, not {version}; "
                "stop it first with `make broker-stop`"
            )
        _wait_ready(current, timeout)
        return current
    libs = ensure_jars(version)
    state_dir().mkdir(parents=True, exist_ok=True)
    data = _prepare_data(version)
    last = last_ports()
    # A port found free can be bound by another broker starting at the same moment (the
    # suite starts its two Kafka versions side by side); this one then fails to bind, and
    # its wait would take the other's answer for its own. A foreign cluster id says so,
    # and the broker starts again on ports no one used.
    tried: set[int] = set()
    for _ in range(START_ATTEMPTS):
        port = _free_port(last["port"], avoid=tried)
        controller_port = _free_port(last.get("controller_port"), avoid=tried | {port})
        tried |= {port, controller_port}
        props = _write_config(version, port, controller_port, data)
        _format_storage(version, libs, props, data)
        proc = _launch(version, libs, props)
        state = BrokerState(
            version=version, port=port, controller_port=controller_port, pid=proc.pid
        )
        (state_dir() / "broker.json").write_text(json.dumps(asdict(state)))
        try:
            _wait_ready(state, timeout, proc)
        except PortTaken as taken:
            print(f"{taken}: starting again on other ports")
            proc.kill()
            proc.wait()
            (state_dir() / "broker.json").unlink(missing_ok=True)
            continue
        (state_dir() / "ports.json").write_text(
            json.dumps({"port": port, "controller_port": controller_port})
        )
        return state
    raise BrokerError(f"every port tried ({sorted(tried)}) was taken by another Kafka")


def last_ports() -> dict[str, int | None]:
    """The ports the broker of this folder had last (ports.json), else SCORER_BROKER_PORT
    and any controller port."""
    saved = state_dir() / "ports.json"
    if saved.exists():
        return cast(dict[str, int | None], json.loads(saved.read_text()))
    return {"port": kafka_settings().scorer_broker_port, "controller_port": None}


def _launch(version: str, libs: Path, props: Path) -> subprocess.Popen[bytes]:
    """The broker's JVM, logging to broker.log; the previous start's log is kept as
    broker.log.1, so that the log does not grow with every start."""
    log = state_dir() / "broker.log"
    if log.exists():
        log.replace(log.with_name("broker.log.1"))
    with log.open("ab") as out:
        return subprocess.Popen(
            _java_cmd(version, libs, ["kafka.Kafka", str(props)]),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait_ready(state: BrokerState, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Wait until this broker answers: its own cluster id at its port, not another's."""
    ours = own_cluster()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            (state_dir() / "broker.json").unlink(missing_ok=True)
            raise BrokerError(
                f"Kafka exited with code {proc.returncode} while starting; "
                f"end of {state_dir() / 'broker.log'}:\n{_tail(state_dir() / 'broker.log')}"
            )
        answered = cluster_at(state.bootstrap, timeout=2.0)
        if answered is not None and ours is not None and answered != ours:
            raise PortTaken(
                f"port {state.port} is answered by another Kafka cluster "
                f"({answered}, this broker's is {ours})"
            )
        if answered is not None:
            return
        time.sleep(0.3)
    raise BrokerError(
        f"Kafka at {state.bootstrap} did not answer within {timeout:.0f}s; "
        f"end of {state_dir() / 'broker.log'}:\n{_tail(state_dir() / 'broker.log')}"
    )


def stop(timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the local broker (SIGTERM, then SIGKILL). False when none was running."""
    state = running()
    if state is None:
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_local_broker(state.pid) and time.monotonic() < deadline:
        _reap(state.pid)
        time.sleep(0.2)
    if is_local_broker(state.pid):
        os.kill(state.pid, signal.SIGKILL)
        while is_local_broker(state.pid):
            _reap(state.pid)
            time.sleep(0.1)
    (state_dir() / "broker.json").unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the broker is our own child, so it does not linger."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.dev.broker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["start", "stop", "status", "address"])
    args = parser.parse_args(argv)
    try:
        return _run(args.command)
    except ScorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(command: str) -> int:
    if command == "start":
        began = time.monotonic()
        already = running() is not None
        state = start()
        how = "already running" if already else f"started in {time.monotonic() - began:.1f}s"
        print(f"Kafka {state.version} {how} at {state.bootstrap} (pid {state.pid})")
        return 0
    if command == "stop":
        print("Kafka stopped" if stop() else "Kafka was not running")
        return 0
    if command == "address":
        print(bootstrap_servers())
        return 0
    current = running()
    if current is None:
        print("Kafka is not running")
        return 3
    ready = "ready" if metadata_ok(current.bootstrap) else "not answering"
    print(f"Kafka {current.version} running at {current.bootstrap} (pid {current.pid}), {ready}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
