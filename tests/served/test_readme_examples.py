"""Every code example in README.md, run as written against the embedded default.

The examples are read from the README's fenced blocks, so the README as it stands is what is tested. The
server is what `make serve` runs: `serve run` of serve_config.local.yaml (Ray Serve's own CLI code, in a
process with its own Ray cluster, so it never meets the suite's TLS app), with only a free port for 8000
and a temporary data root: the project's voices/ (linked) and a fresh data/ (the library, the embedded
Redis's file, no Chatterbox weights), as the project directory is for `make serve`. The examples see one
change, the address: `http://127.0.0.1:8000` becomes that server, and `https://127.0.0.1:8443` (what
`make serve-tls` serves) a TLS relay in front of it with the certificate `install/local_tls.py` writes
where `make serve-tls` keeps it (data/tls/ under the data root).

- `bash` blocks run in bash (`set -eo pipefail`) in the data root, with the clips they upload
  (`reference.wav`, `me.wav`) and a stand-in for sox's `play`. A `curl` on PATH records each request's
  status: one that needs Chatterbox answers the documented 503 in OpenAI's error shape (or, naming a voice
  the README's clone would have made, the unknown-voice error); any other succeeds, and the audio it wrote
  decodes. A block of `make` commands is checked with `make -n` (the targets exist), not run.
- `python` blocks run in a fresh interpreter in the same directory (top-level `await` allowed: the handle
  example is code inside another Ray Serve application; it joins the server's Ray cluster), and the audio
  files they write decode.
- `yaml` blocks are Serve `http_options`; blocks without a language are diagrams.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
import soundfile
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LOCAL_CONFIG = ROOT / "serve_config.local.yaml"
README_URL = "http://127.0.0.1:8000"  # make serve
README_TLS_URL = "https://127.0.0.1:8443"  # make serve-tls
AUDIO_SUFFIXES = {".mp3", ".wav", ".flac", ".opus", ".ogg", ".aac", ".aiff"}
# Routes that need Chatterbox's weights (absent in the embedded default): the README says they answer 503.
CHATTERBOX_ROUTES = {"/v1/voices", "/v1/audio/conversions"}
START_TIMEOUT_S = 240
EXAMPLE_TIMEOUT_S = 180


@dataclass(frozen=True)
class Block:
    language: str
    line: int
    code: str

    @property
    def id(self) -> str:
        first = next((ln.strip() for ln in self.code.splitlines() if ln.strip()), "")
        return f"{self.language or 'text'}-L{self.line}-{re.sub(r'[^A-Za-z0-9]+', '_', first)[:32]}"


def readme_blocks(text: str) -> list[Block]:
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        opening = re.fullmatch(r"(\s*)```(\w*)\s*", lines[index])
        index += 1
        if not opening:
            continue
        indent, start, body = len(opening.group(1)), index, []
        while not re.fullmatch(r"\s*```\s*", lines[index]):
            line = lines[index]
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
            index += 1
        index += 1
        blocks.append(Block(opening.group(2), start, "\n".join(body) + "\n"))
    return blocks


BLOCKS = readme_blocks(README.read_text())
# Voices the README clones (`-F name=...` to /v1/voices): on the embedded default the clone answers 503, so
# a later example that names one gets the documented unknown-voice error (naming its field) instead.
UNCLONED = {name.lower() for name in re.findall(r"/v1/voices\b.*?-F name=([^\s'\"]+)", README.read_text())}
JOB_STATES = {"IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"}


# ---- the server: `serve run` of the embedded default's config, in a process of its own ----

def _serve(config_path: str, address_file: str) -> None:
    """Runs in the server process: Ray Serve's `serve run --non-blocking` on the config, in a Ray cluster
    this process starts (so that the test can reach it: the handle example joins it), until stdin closes."""
    import ray
    from ray import serve
    from ray.serve.scripts import cli

    from install.serve_local import start_ray

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit through ray's atexit shutdown
    start_ray()  # as `make serve` starts it
    Path(address_file).write_text(ray.get_runtime_context().gcs_address)
    cli.main(["run", "--non-blocking", config_path], standalone_mode=False)
    sys.stdin.read()
    serve.shutdown()
    ray.shutdown()


def _run_example(code_path: str, ray_address: str) -> None:
    """Runs in a fresh interpreter: one python block, with top-level await allowed."""
    import ast
    import inspect

    code = Path(code_path).read_text()
    if ray_address:
        import ray

        ray.init(address=ray_address, log_to_driver=False)
    compiled = compile(code, code_path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, {"__name__": "__main__"})  # the README's own example, as a script runs it
    if inspect.iscoroutine(result):
        asyncio.run(result)


def _free_port() -> int:
    from ground.network import free_port

    return free_port()


class TlsRelay:
    """What `make serve-tls` answers on 8443: TLS with the project's certificate, the embedded default
    behind it. Bytes are relayed both ways (WebSocket upgrades included), a thread per direction."""

    def __init__(self, cert: Path, key: Path, target_port: int):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._relay, args=(raw,), daemon=True).start()

    def _relay(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        self.listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until either side ends, then end both: a WebSocket's close ends both directions, and a
    half-open relay would keep the client waiting for the end of its connection."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    for end in (source, sink):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


@dataclass
class Server:
    url: str
    tls_url: str
    ray_address: str
    home: Path  # the data root, and the directory the examples run in
    env: dict
    tmp: Path
    process_id: int  # what `make serve` runs; Ray's processes are its descendants


# curl on PATH for the examples: the real curl, with each request's arguments, status and (the start of)
# its body recorded. It runs on the interpreter that runs the suite.
CURL_SHIM = r'''#!{python}
import json, os, subprocess, sys, threading
MARK = "\nREADME-CURL-STATUS "
args = sys.argv[1:]
proc = subprocess.Popen([os.environ["README_REAL_CURL"], "--write-out", "%{{stderr}}" + MARK + "%{{http_code}}\n", *args],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
body = bytearray()
def pump():
    while chunk := proc.stdout.read1(65536):
        body.extend(chunk[:max(0, (8 << 20) - len(body))])
        try:
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            pass
thread = threading.Thread(target=pump)
thread.start()
err = proc.stderr.read().decode(errors="replace")
thread.join()
code = proc.wait()
text, _, status = err.rpartition(MARK)
sys.stderr.write(text)
with open(os.environ["README_CURL_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "status": int(status.strip() or 0), "exit": code,
                          "body": body.decode(errors="replace")}}) + "\n")
sys.exit(code)
'''

# sox's `play` for the examples: keeps what it was fed (raw PCM from `-`) for the test to check.
PLAY_STUB = r'''#!{python}
import json, os, sys
data = sys.stdin.buffer.read()
n = len([p for p in os.listdir(".") if p.startswith("play-")])
with open(f"play-{{n}}.raw", "wb") as out:
    out.write(data)
with open(f"play-{{n}}.json", "w") as out:
    json.dump(sys.argv[1:], out)
'''


def _write_clip(path: Path, seconds: float, rate: int = 24_000) -> None:
    """A voiced-sounding test clip: a harmonic tone with a syllable-rate envelope."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    soundfile.write(path, (0.2 * tone * envelope).astype(np.float32), rate, subtype="PCM_16")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    from install.local_tls import TLS_DIR, write_certificate

    tmp = tmp_path_factory.mktemp("readme")
    # The data root, as the project directory is for `make serve`: the shipped voices/, and a fresh data/.
    home = tmp / "home"
    home.mkdir()
    (home / "voices").symlink_to(ROOT / "voices")
    config = yaml.safe_load(LOCAL_CONFIG.read_text())
    port = _free_port()
    config["http_options"]["port"] = port
    config_path = tmp / "serve_config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "RAY_ADDRESS", "CHORUS_DATA_ROOT")}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", CHORUS_DATA_ROOT=str(home),
               PYTHONPATH=str(ROOT))
    address_file = tmp / "ray-address"
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, __file__, "serve", str(config_path), str(address_file)],
                               cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    relay = None
    try:
        _wait_for_kokoro(url, process, tmp / "serve.log")
        # make serve-tls's certificate, where it writes it: data/tls/ under the data root.
        cert, key = write_certificate(home / TLS_DIR)
        relay = TlsRelay(cert, key, port)
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        for name, text in (("curl", CURL_SHIM), ("play", PLAY_STUB)):
            (bin_dir / name).write_text(text.format(python=sys.executable))
            (bin_dir / name).chmod(0o755)
        example_env = {**env, "PATH": f"{bin_dir}:{env['PATH']}", "README_REAL_CURL": shutil.which("curl")}
        _write_clip(home / "reference.wav", 8)
        _write_clip(home / "me.wav", 3)
        yield Server(url, f"https://127.0.0.1:{relay.port}", address_file.read_text(), home, example_env, tmp,
                     process.pid)
    finally:
        if relay is not None:
            relay.close()
        process.stdin.close()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        log.close()


def _wait_for_kokoro(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None or "Deploying app 'chorus' failed" in log.read_text(errors="replace"):
            break
        try:
            health = httpx.get(f"{url}/health", timeout=5)
            if health.status_code == 200 and health.json()["engines"]["kokoro"]["status"] == "ready":
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(1)
    raise RuntimeError(f"the embedded default did not start; its log ends:\n{log.read_text()[-6000:]}")


def _localized(code: str, server: Server) -> str:
    return code.replace(README_TLS_URL, server.tls_url).replace(README_URL, server.url)


def _scratch(server: Server) -> set[Path]:
    return {p for p in server.home.iterdir() if p.is_file()}


def _assert_audio(path: Path) -> None:
    if path.suffix == ".raw":
        assert path.stat().st_size > 0 and path.stat().st_size % 2 == 0, f"{path.name}: not 16-bit PCM"
        return
    info = soundfile.info(str(path))
    assert info.duration > 0.2, f"{path.name}: {info}"


def _assert_chatterbox_unavailable(body: str, what: str) -> None:
    """The README's promise without weights: "its routes answer 503", in OpenAI's error shape."""
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}, f"{what}: {error}"
    assert "chatterbox" in error["message"].lower() or "checkpoint" in error["message"].lower(), f"{what}: {error}"


def _needs_chatterbox(args: list[str]) -> bool:
    url = next(a for a in args if a.startswith("http"))
    posts = any(a in ("-d", "--data", "-F", "--form") for a in args)
    if posts and urlparse(url).path in CHATTERBOX_ROUTES:
        return True
    for flag, value in itertools.pairwise(args):
        if flag in ("-d", "--data"):
            try:
                if json.loads(value).get("model") == "chatterbox":
                    return True
            except ValueError:
                pass
    return False


def _uncloned_voice_field(args: list[str]) -> str | None:
    """The field naming a voice that the README's clone (503 here) would have made, if any."""
    for flag, value in itertools.pairwise(args):
        if flag in ("-d", "--data"):
            try:
                voice = json.loads(value).get("voice")
            except ValueError:
                continue
            if isinstance(voice, str) and voice.lower() in UNCLONED:
                return "voice"
        if flag in ("-F", "--form"):
            field, _, voice = value.partition("=")
            if field in ("voice", "voice_name", "voice_id") and voice.lower() in UNCLONED:
                return field
    return None


def _output_file(args: list[str]) -> str | None:
    return next((value for flag, value in itertools.pairwise(args) if flag in ("-o", "--output")), None)


def _check_make(block: Block) -> None:
    lines = [ln.split("#", 1)[0].strip() for ln in block.code.splitlines()]
    commands = [ln for ln in lines if ln]
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "make" and len(words) == 2, f"not a make command: {command!r}"
        dry = subprocess.run(["make", "-n", words[1]], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0, f"make {words[1]}: {dry.stderr}"


def _is_make_block(block: Block) -> bool:
    return all(ln.split("#", 1)[0].strip().startswith("make ")
               for ln in block.code.splitlines() if ln.split("#", 1)[0].strip())


def _run_bash(block: Block, server: Server) -> None:
    log = server.tmp / f"curl-{block.line}.jsonl"
    log.unlink(missing_ok=True)
    before = _scratch(server)
    ran = subprocess.run(["bash", "-c", "set -eo pipefail\n" + _localized(block.code, server)], check=False,
                         cwd=server.home, env={**server.env, "README_CURL_LOG": str(log)}, capture_output=True,
                         timeout=EXAMPLE_TIMEOUT_S)
    stdout = ran.stdout.decode(errors="replace")
    assert ran.returncode == 0, f"exit {ran.returncode}\n{stdout[-2000:]}\n{ran.stderr.decode(errors='replace')[-3000:]}"
    requests = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert requests, "a bash example that sends no request"
    for request in requests:
        args, status, what = request["args"], request["status"], shlex.join(request["args"])[:160]
        output = _output_file(args)
        body = (server.home / output).read_text(errors="replace") if output else request["body"]
        if _needs_chatterbox(args):
            if field := _uncloned_voice_field(args):
                assert status in (400, 404), f"{what}: {status} {body[:300]}"
                error = json.loads(body)["error"]
                assert error["param"] == field and "not found" in error["message"], f"{what}: {error}"
            else:
                assert status == 503, f"{what}: {status} {body[:300]}"
                _assert_chatterbox_unavailable(body, what)
            continue
        assert 200 <= status < 300, f"{what}: {status} {body[:300]}"
        if output and Path(output).suffix in AUDIO_SUFFIXES:
            _assert_audio(server.home / output)
        if '"stream_format": "sse"' in " ".join(args):
            assert "speech.audio.delta" in body and "speech.audio.done" in body, body[:300]
        if urlparse(next(a for a in args if a.startswith("http"))).path.startswith("/status/"):
            assert json.loads(body)["status"] in JOB_STATES, body[:300]
    for path in _scratch(server) - before:
        if path.name.startswith("play-") and path.suffix == ".raw":
            _assert_audio(path)


def _run_python(block: Block, server: Server) -> None:
    code_path = server.tmp / f"example-{block.line}.py"
    code_path.write_text(_localized(block.code, server))
    uses_ray = re.search(r"^\s*(import ray|from ray\b)", block.code, re.MULTILINE) is not None
    before = _scratch(server)
    ran = subprocess.run([sys.executable, __file__, "example", str(code_path), server.ray_address if uses_ray else ""],
                         check=False, cwd=server.home, env=server.env, capture_output=True, text=True,
                         timeout=EXAMPLE_TIMEOUT_S)
    assert ran.returncode == 0, f"exit {ran.returncode}\n{ran.stdout[-2000:]}\n{ran.stderr[-4000:]}"
    for path in _scratch(server) - before:
        if path.suffix in AUDIO_SUFFIXES:
            _assert_audio(path)


def _check_yaml(block: Block) -> None:
    from ray.serve.schema import HTTPOptionsSchema

    document = yaml.safe_load(block.code)
    assert set(document) == {"http_options"}, document
    options = document["http_options"]
    assert set(options) <= set(HTTPOptionsSchema.model_fields), options
    HTTPOptionsSchema.model_validate(options)


def _check_diagram(block: Block) -> None:
    assert not re.search(r"^\s*(curl|make|python|import|from|\$)\b", block.code, re.MULTILINE), \
        f"code in a block without a language: {block.code[:200]}"


def test_the_readme_has_examples_of_every_kind():
    assert {b.language for b in BLOCKS} <= {"bash", "python", "yaml", ""}, {b.language for b in BLOCKS}
    assert sum(b.language == "bash" and not _is_make_block(b) for b in BLOCKS) >= 5
    assert sum(b.language == "python" for b in BLOCKS) >= 3


def _runs_on_the_server(block: Block) -> bool:
    return block.language == "python" or (block.language == "bash" and not _is_make_block(block))


@pytest.mark.parametrize("block", [b for b in BLOCKS if not _runs_on_the_server(b)], ids=lambda b: b.id)
def test_readme_block_without_a_server(block):
    if block.language == "bash":
        _check_make(block)
    elif block.language == "yaml":
        _check_yaml(block)
    else:
        _check_diagram(block)


@pytest.mark.parametrize("block", [b for b in BLOCKS if _runs_on_the_server(b)], ids=lambda b: b.id)
def test_readme_example_runs_on_the_embedded_default(block, server):
    if block.language == "bash":
        _run_bash(block, server)
    else:
        _run_python(block, server)


def test_make_serve_starts_ray_at_one_machines_pace(server):
    """install/serve_local.py: the dashboard's modules and web UI off, Serve's control loop every 0.5 s and its
    metrics export every second, in every Ray process (what bench/results/kokoro_cpu.md's idle table measures)."""
    import psutil

    from install.serve_local import QUIET_SERVE_DEFAULTS

    processes = psutil.Process(server.process_id).children(recursive=True)
    commands = {p.pid: " ".join(p.cmdline()) for p in processes}
    (dashboard,) = [c for c in commands.values() if "dashboard/dashboard.py" in c]
    assert "--disable-frontend" in dashboard and "--modules-to-load=UsageStatsHead" in dashboard, dashboard
    (controller,) = [p for p in processes if "ServeController" in commands[p.pid]]
    assert QUIET_SERVE_DEFAULTS.items() <= controller.environ().items()


def test_serve_tls_serves_the_embedded_default_with_only_tls_added(tmp_path):
    """`make serve-tls`: serve_config.local.yaml with HTTPS on 8443 and a certificate for the loopback
    addresses that Python's default context accepts once trusted (as SSL_CERT_FILE makes it)."""
    from ray.serve.schema import ServeDeploySchema

    from install.local_tls import TLS_PORT, write_tls_config

    path = write_tls_config(tmp_path)
    config, local = yaml.safe_load(path.read_text()), yaml.safe_load(LOCAL_CONFIG.read_text())
    ServeDeploySchema.model_validate(config)
    assert {k: v for k, v in config.items() if k != "http_options"} == {k: v for k, v in local.items()
                                                                           if k != "http_options"}
    options = config["http_options"]
    assert options == {**local["http_options"], "port": TLS_PORT, "ssl_certfile": str(tmp_path / "cert.pem"),
                       "ssl_keyfile": str(tmp_path / "key.pem")}
    assert README_TLS_URL == f"https://127.0.0.1:{TLS_PORT}"
    client = ssl.create_default_context(cafile=options["ssl_certfile"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(options["ssl_certfile"], options["ssl_keyfile"])
    assert oct((tmp_path / "key.pem").stat().st_mode & 0o777) == "0o600"
    for host in ("127.0.0.1", "localhost"):
        _handshake(client, server, host)
    before = (tmp_path / "cert.pem").read_bytes()
    write_tls_config(tmp_path)
    assert (tmp_path / "cert.pem").read_bytes() == before, "a valid certificate is kept, not replaced"


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, host: str) -> None:
    """A TLS handshake over a socket pair; the client's side raises if the name or the chain is refused."""
    import socket

    ours, theirs = socket.socketpair()
    serving = threading.Thread(target=lambda: server.wrap_socket(theirs, server_side=True).close(), daemon=True)
    serving.start()
    with client.wrap_socket(ours, server_hostname=host):
        pass
    serving.join(10)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        _serve(*sys.argv[2:])
    else:
        _run_example(*sys.argv[2:])
