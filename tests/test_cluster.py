"""`serve --ray`: a local 2-replica Ray Serve cluster (marker `cluster`), and the directory's logic without Ray.

One cluster serves the whole module (~10 s to start, < 1 GB); the lost-replica test runs last because it kills a
replica's process. Every fixture shuts Serve and Ray down."""

import asyncio
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import zmq

from baked_line import speak_wav
from test_unity_client import drive_harness, harness, needs_mono, run_harness, spoken_line  # noqa: F401 (fixtures)
from vasa_bridge import protocol as m
from vasa_bridge.audio.load import load_audio
from vasa_bridge.client import AsyncClient, Client
from vasa_bridge.client.failover import ReopeningSession
from vasa_bridge.cluster.autoscale import SessionsPolicy, desired_replicas
from vasa_bridge.cluster.config import ClusterConfig, ClusterConfigError
from vasa_bridge.cluster.directory import answer
from vasa_bridge.commands.serve import parse_autoscale
from vasa_bridge.errors import VasaBridgeError
from vasa_bridge.transport.config import ServerConfig
from vasa_bridge.transport.runner import BackgroundServer

SAMPLE_RATE_HZ = 16000
CHUNK_S = 0.2


def _replica(name: str, sessions: int, draining: bool = False, max_sessions: int = 128) -> dict:
    return {"replica": name, "pid": 1, "zmq_url": f"tcp://10.0.0.1:{sessions + 100}", "zmq_stream_url": "tcp://x:1",
            "instance": "0123456789abcdef", "sessions": sessions, "max_sessions": max_sessions, "draining": draining}


HELLO = {"type": "hello", "id": 3, "protocol": m.protocol_version()}


# ---- the directory and the options (no Ray) --------------------------------------------------------------------
def test_directory_assigns_the_least_loaded_open_replica():
    reply = answer(HELLO, [_replica("a", 5), _replica("b", 2), _replica("c", 0, draining=True)])
    assert reply["type"] == "assign" and reply["id"] == 3 and reply["replica"] == "b"
    assert m.check_message(reply) is None  # valid against the protocol's own table


def test_directory_counts_clients_it_just_assigned():
    replicas = [_replica("a", 0), _replica("b", 1)]
    assert answer(HELLO, replicas, {"a": 2})["replica"] == "b"


def test_directory_refuses_when_every_replica_is_full_or_draining():
    with pytest.raises(m.ProtocolError) as e:
        answer(HELLO, [_replica("a", 4, max_sessions=4), _replica("b", 0, draining=True)])
    assert e.value.code == "session_limit" and e.value.retry_after_ms


def test_directory_tells_an_old_client_where_to_go():
    with pytest.raises(m.ProtocolError) as e:
        answer({**HELLO, "protocol": "1.3"}, [_replica("a", 0)])
    assert e.value.code == "version_mismatch" and "tcp://10.0.0.1:100" in e.value.message


def test_autoscale_option_and_config_are_checked():
    assert parse_autoscale("1..4") == (1, 4)
    with pytest.raises(VasaBridgeError, match="MIN..MAX"):
        parse_autoscale("4")
    with pytest.raises(ClusterConfigError, match="MIN <= MAX"):
        ClusterConfig(autoscale_min=3, autoscale_max=2)
    with pytest.raises(ClusterConfigError, match="session cap"):
        ClusterConfig(target_sessions_per_replica=500)
    with pytest.raises(ClusterConfigError, match="do not fit the local Ray"):
        ClusterConfig(replicas=3, replica_num_cpus=1.0)
    ClusterConfig(replicas=3, replica_num_cpus=1.0, ray_address="10.0.0.5:6379")  # a bigger cluster may fit them


def test_autoscale_policy_sizes_on_live_sessions_within_the_bounds():
    assert desired_replicas(17, 8.0, low=1, high=4) == 3  # ceil(17 / 8)
    assert desired_replicas(99, 8.0, low=1, high=4) == 4  # capped at MAX
    assert desired_replicas(0, 8.0, low=1, high=4) == 1   # never below MIN
    assert desired_replicas(0, 8.0, low=0, high=4) == 0   # MIN 0: scale to zero


def test_autoscale_policy_sums_the_sessions_every_replica_reports():
    from types import SimpleNamespace

    policy = SessionsPolicy(target_sessions_per_replica=4)
    ctx = SimpleNamespace(aggregated_metrics={"sessions": {"r1": 4.0, "r2": 3.0, "r3": 2.0}}, policy_state={},
                          capacity_adjusted_min_replicas=1, capacity_adjusted_max_replicas=8, current_num_replicas=3)
    assert policy(ctx)[0] == 3  # 9 sessions / 4 per replica
    ctx.aggregated_metrics = {}
    assert policy(ctx)[0] == 1


def test_serve_config_args_set_cluster_and_replica_options_and_reject_unknown_ones():
    from vasa_bridge.cluster.serve_app import config_from_args

    config = config_from_args({"backend": "amplitude", "max_sessions": 32, "target_sessions_per_replica": 24,
                               "advertise_host": ""})
    assert config.server.max_sessions == 32 and config.max_ongoing_requests == 32
    assert config.target_sessions_per_replica == 24 and config.advertise_host == ""
    with pytest.raises(ClusterConfigError, match="max_sesions"):
        config_from_args({"max_sesions": 32})


def test_reopening_session_survives_a_sidecar_restart_with_every_frame_once(line):
    """No Ray: the same client logic against one sidecar that stops mid-line and comes back on its port."""
    from dataclasses import replace

    from sidecar_helpers import free_ports

    config = replace(ServerConfig(zmq_port=None, zmq_stream_port=None), ws_port=free_ports(1)[0])
    servers = [BackgroundServer(config).start()]

    async def scenario() -> ReopeningSession:
        client = await AsyncClient.connect(servers[0].endpoints.ws_url, timeout_s=2.0)
        session = await ReopeningSession.open(client, sample_rate_hz=SAMPLE_RATE_HZ, seed=9)
        batches: list = []

        async def read() -> None:
            async for batch in session.batches(timeout_s=3.0):
                batches.append(batch)

        reader = asyncio.create_task(read())
        step = int(CHUNK_S * SAMPLE_RATE_HZ)
        for start in range(0, len(line), step):
            await session.push(line[start:start + step])
            await asyncio.sleep(CHUNK_S / 4)
            if start <= len(line) // 2 < start + step:  # restart the sidecar mid-line
                await asyncio.to_thread(servers[0].stop)
                servers.append(BackgroundServer(config).start())
        await session.end_audio()
        await asyncio.wait_for(reader, 30)
        await client.close()
        session.batches_seen = batches
        return session

    try:
        session = asyncio.run(scenario())
    finally:
        servers[-1].stop()
    batches = session.batches_seen
    assert len(session.reopens) == 1 and session.end["reason"] == "end_of_audio"
    assert all(b.seq == a.seq + len(a.frames) for a, b in zip(batches, batches[1:]))  # no gap, no repeat
    assert abs(session.frames_received - 25 * len(line) / SAMPLE_RATE_HZ) <= 2


# ---- a live cluster --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def line(tmp_path_factory) -> np.ndarray:
    wav = speak_wav(tmp_path_factory.mktemp("cluster"), "Four lines at once, each on its own replica.")
    return load_audio(wav, SAMPLE_RATE_HZ).astype(np.float32)


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray.serve", reason="needs the cluster extra: pip install -e '.[cluster]'")
    from vasa_bridge.cluster.app import ClusterServer

    server = ClusterServer(ClusterConfig(replicas=2, replica_num_cpus=0.5, http_port=_free_port(),
                                         directory_port=0, drain_timeout_s=5.0))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    from sidecar_helpers import free_ports

    return free_ports(1)[0]


def _stream_line(client: Client, samples: np.ndarray, seed: int) -> tuple[str, np.ndarray]:
    """One client streams the line in chunks, then reads; returns (hello_ok.instance, all frames)."""
    with client:
        session = client.open(sample_rate_hz=SAMPLE_RATE_HZ, seed=seed)
        step = int(CHUNK_S * SAMPLE_RATE_HZ)
        for start in range(0, len(samples), step):
            session.push(samples[start:start + step])
        session.end_audio()
        clip = session.collect()
        assert session.end["reason"] == "end_of_audio"
        return client.hello["instance"], clip.frames


def _single_process(samples: np.ndarray, seeds: list[int]) -> list[np.ndarray]:
    with BackgroundServer() as server:
        return [_stream_line(Client(server.endpoints.ws_url), samples, seed)[1] for seed in seeds]


@pytest.mark.cluster
def test_four_concurrent_lines_each_binding_are_whole_spread_and_equal_single_process(cluster, line):
    seeds = [11, 12, 13, 14]
    expected = _single_process(line, seeds)
    urls = {"ws": cluster.endpoints.ws_url, "zmq": cluster.endpoints.directory_url}
    results: dict[tuple[str, int], tuple[str, np.ndarray]] = {}
    errors: list[BaseException] = []

    def run(binding: str, seed: int, client: Client) -> None:
        try:
            results[binding, seed] = _stream_line(client, line, seed)
        except BaseException as e:
            errors.append(e)

    # Connected one after another (Serve routes each connection to the replica with fewer; simultaneous ones can
    # see the same counts), then streamed all at once.
    clients = {(b, s): Client(urls[b]) for b in urls for s in seeds}
    threads = [threading.Thread(target=run, args=(b, s, c)) for (b, s), c in clients.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    replicas = {r["instance"] for r in cluster.live_replicas()}
    for binding in urls:
        instances = {results[binding, s][0] for s in seeds}
        assert instances <= replicas and len(instances) == 2, f"{binding}: sessions not spread: {instances}"
        for seed, want in zip(seeds, expected):
            got = results[binding, seed][1]
            assert got.shape == want.shape and len(got) >= 25 * len(line) / SAMPLE_RATE_HZ - 2
            np.testing.assert_array_equal(got, want)


@pytest.mark.cluster
@needs_mono
def test_csharp_client_follows_the_directory_and_streams_a_line_whole(cluster, harness, tmp_path):
    """The Unity package's VasaClusterDirectory.Assign + VasaBridgeClient (mono harness, mode `cluster`)."""
    wav = speak_wav(tmp_path, "A line from Unity through the cluster.")
    out = run_harness(harness, "cluster", cluster.endpoints.directory_url, str(wav))
    assert "assigned tcp://" in out


@pytest.mark.cluster
def test_directory_status_reports_replica_health_without_hello(cluster):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(cluster.endpoints.directory_url)
    try:
        sock.send_multipart(m.to_zmq_frames({"type": "status", "id": 9}))
        assert sock.poll(5000)
        reply = m.from_zmq_frames(sock.recv_multipart(), 1 << 20)
    finally:
        sock.close()
    assert m.check_message(reply) is None
    assert reply["type"] == "status_ok" and reply["replicas"] == 2 and reply["replicas_silent"] == 0
    assert reply["max_sessions"] == 2 * 128


async def _clients_on_both_replicas(url: str) -> list[AsyncClient]:
    """Two clients on different replicas (Serve routes a WebSocket by its own counts: reconnect until it spreads)."""
    first = await AsyncClient.connect(url, timeout_s=2.0)
    for _ in range(20):
        second = await AsyncClient.connect(url, timeout_s=2.0)
        if second.hello["instance"] != first.hello["instance"]:
            return [first, second]
        await second.close()
    raise AssertionError(f"{url}: 20 connections in a row went to the same replica")


async def _stream_reopening(client: AsyncClient, samples: np.ndarray, seed: int, midway) -> ReopeningSession:
    """Stream the line in real time (after a fast first third), calling `midway()` once a third is in."""
    session = await ReopeningSession.open(client, sample_rate_hz=SAMPLE_RATE_HZ, seed=seed)
    session.batches_seen = []
    session.instance = client.hello["instance"]  # the replica it started on
    step = int(CHUNK_S * SAMPLE_RATE_HZ)

    async def read() -> None:
        async for batch in session.batches(timeout_s=1.5):
            session.batches_seen.append(batch)

    reader = asyncio.create_task(read())
    for start in range(0, len(samples), step):
        await session.push(samples[start:start + step])
        if start >= len(samples) // 3:
            await midway()
            await asyncio.sleep(CHUNK_S)
    await session.end_audio()
    await asyncio.wait_for(reader, 30)
    await client.close()
    return session


@pytest.mark.cluster
def test_scale_down_lets_live_sessions_finish_on_their_replica(cluster, line):
    before = {r["instance"] for r in cluster.live_replicas()}
    scaled: list[asyncio.Task] = []

    async def scale_down_once() -> None:
        if not scaled:
            scaled.append(asyncio.create_task(asyncio.to_thread(cluster.scale, 1)))

    async def scenario() -> list[ReopeningSession]:
        clients = [*await _clients_on_both_replicas(cluster.endpoints.ws_url),
                   *await _clients_on_both_replicas(cluster.endpoints.directory_url)]
        # The WebSocket lines are half as long: a replica then outlives its last connection (which Serve itself
        # waits for) only by draining its ZeroMQ sessions, which Serve cannot see.
        lines = [line[:len(line) // 2]] * 2 + [line] * 2
        sessions = await asyncio.gather(*[_stream_reopening(c, samples, 20 + i, scale_down_once)
                                          for i, (c, samples) in enumerate(zip(clients, lines))])
        await asyncio.gather(*scaled)
        return sessions

    try:
        sessions = asyncio.run(scenario())
        for pair in (sessions[:2], sessions[2:]):  # each binding had a live session on each replica
            assert {s.instance for s in pair} == before
        for s, samples in zip(sessions, [line[:len(line) // 2]] * 2 + [line] * 2):
            assert s.reopens == [] and s.end["reason"] == "end_of_audio", (s.reopens, s.end)
            assert abs(s.frames_received - 25 * len(samples) / SAMPLE_RATE_HZ) <= 2
        deadline = time.monotonic() + 20
        while len(cluster.live_replicas()) != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(cluster.live_replicas()) == 1, cluster.health()
    finally:
        cluster.scale(2)


@pytest.mark.cluster
@pytest.mark.parametrize("binding", ["ws", "zmq"])
def test_lost_replica_session_reopens_elsewhere_within_2_s_and_replica_is_replaced(cluster, line, binding):
    url = cluster.endpoints.ws_url if binding == "ws" else cluster.endpoints.directory_url
    before = {r["replica"]: r for r in cluster.live_replicas()}

    async def scenario() -> tuple[ReopeningSession, list, str]:
        client = await AsyncClient.connect(url, timeout_s=2.0)
        victim = client.hello["instance"]
        session = await ReopeningSession.open(client, sample_rate_hz=SAMPLE_RATE_HZ, seed=5)
        step = int(CHUNK_S * SAMPLE_RATE_HZ)
        batches: list = []

        async def read() -> None:
            async for batch in session.batches(timeout_s=1.5):
                batches.append(batch)

        reader = asyncio.create_task(read())
        killed = False
        for start in range(0, len(line), step):
            await session.push(line[start:start + step])
            await asyncio.sleep(CHUNK_S / 4)  # 4x real time: the kill lands mid-line
            if not killed and start >= len(line) // 3:
                pid = next(r["pid"] for r in cluster.live_replicas() if r["instance"] == victim)
                os.kill(pid, signal.SIGKILL)
                killed = True
        await session.end_audio()
        await asyncio.wait_for(reader, 30)
        await client.close()
        return session, batches, victim

    session, batches, victim = asyncio.run(scenario())
    assert len(session.reopens) == 1 and session.reopens[0] < 2.0, session.reopens
    seqs = [b.seq for b in batches]
    assert seqs == sorted(seqs) and session.end["reason"] == "end_of_audio"
    frames = np.concatenate([b.frames for b in batches])
    assert abs(len(frames) - 25 * len(line) / SAMPLE_RATE_HZ) <= 2  # the whole line: no frame lost or repeated
    assert all(b.seq == a.seq + len(a.frames) for a, b in zip(batches, batches[1:]))
    live = _wait_replaced(cluster, victim)
    assert set(r["replica"] for r in live) != set(before)


def _wait_replaced(cluster, victim: str) -> list[dict]:
    """Serve replaces a killed replica: waits for two live ones again, neither the victim; returns them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = cluster.live_replicas()
        if len(live) == 2 and victim not in {r["instance"] for r in live}:
            return live
        time.sleep(0.5)
    pytest.fail(f"the lost replica was not replaced: {cluster.health()}")


@pytest.mark.cluster
@needs_mono
@pytest.mark.parametrize("binding, loop", [("zmq", "threaded"), ("ws", "threaded"), ("ws", "pumped")])
def test_csharp_line_reopens_on_another_replica_and_completes_on_the_audio_clock(cluster, harness, spoken_line,
                                                                                binding, loop):
    """VasaLineStreamer with a VasaReopener (mono harness, mode `reopen`): the replica serving the line is killed a
    third of the way in; the line re-opens elsewhere within 2 s and every frame arrives once, pts = seq x 40 ms."""
    url = cluster.endpoints.ws_url if binding == "ws" else cluster.endpoints.directory_url
    killed: list[str] = []

    def kill_when_asked(line: str) -> None:
        if line.startswith("KILL_INSTANCE "):
            victim = line.split()[1]
            os.kill(next(r["pid"] for r in cluster.live_replicas() if r["instance"] == victim), signal.SIGKILL)
            killed.append(victim)

    out = drive_harness([str(harness), "reopen", url, str(spoken_line), loop], kill_when_asked)
    assert killed, out
    assert "PASS reopen: every frame once, in seq order, pts = seq x 40 ms across the seam" in out
    print(next(line for line in out.splitlines() if line.startswith("INFO reopen")))  # re-open time, for -s runs
    _wait_replaced(cluster, killed[0])


@pytest.mark.cluster
def test_godot_face_reopens_on_another_replica_and_completes_on_the_audio_clock(cluster):
    """VasaBridgeFace in the real Godot 4.6 web engine (godot_sample/tests/test_reopen.gd, as tests/test_godot.py
    runs the engine): the replica serving its line is killed a third of the way in; the line re-opens elsewhere
    within 2 s and every frame arrives once, pts = seq x 40 ms."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "godot_sample" / "tests"))
    import engine_runner
    from godot_live import speak_pcm16

    try:
        engine_runner.ensure_engine()
        engine_runner.ensure_chromium()
        engine_runner.ensure_playwright()
    except (engine_runner.EngineRunnerError, OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"the Godot web engine is not available here: {e}")
    killed: list[str] = []

    def kill(params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        victim = params["instance"]
        os.kill(next(r["pid"] for r in cluster.live_replicas() if r["instance"] == victim), signal.SIGKILL)
        killed.append(victim)
        return b"killed", {"Content-Type": "text/plain"}

    pcm, rate = speak_pcm16("A line from Godot that survives a lost replica of the cluster, and goes on.")
    port = cluster.endpoints.ws_url.rsplit(":", 1)[1].strip("/")
    run = engine_runner.run_tests(extra_args=["--suite=reopen", f"--ws-port={port}", f"--sample-rate-hz={rate}"],
                                  data={"test_data/line.pcm": pcm}, routes={"/kill": kill}, timeout_s=120)
    results = {name: (ok, details) for name, ok, details in run.results}
    print(*[line for line in run.lines if "VASA_NOTE reopen" in line], sep="\n")  # re-open time, for -s runs
    assert run.ok and len(results) >= 6, "\n".join(run.lines[-40:])
    assert results["reopen_every_frame_once_on_the_audio_clock"][0]
    _wait_replaced(cluster, killed[0])
