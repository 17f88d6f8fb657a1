"""The embedded default service, run as `make serve` runs it (install/serve_local.py) on a free local port for a benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

import httpx
import yaml

from ground.network import free_port

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ROOT = Path(__file__).resolve().parents[1]


def embedded_config(port: int) -> dict:
    config = yaml.safe_load((ROOT / "serve_config.local.yaml").read_text())
    config["http_options"]["port"] = port
    return config


class ServeRun:
    """`make serve`'s `serve run` of the embedded default config on a free port, for the length of a `with` block;
    Chatterbox and Conversion read `checkpoint_dir` when one is given, and Chatterbox gets
    `chatterbox_user_config` (its batch limits) when one is given; `gateway` overrides gateway settings."""

    def __init__(self, checkpoint_dir: Path | None = None, chatterbox_user_config: dict | None = None,
                 gateway: dict | None = None):
        self._checkpoint_dir = checkpoint_dir
        self._chatterbox_user_config = chatterbox_user_config
        self._gateway = gateway or {}

    def __enter__(self) -> Self:
        port = free_port()
        self.config = embedded_config(port)
        self.config["applications"][0]["args"]["gateway"].update(self._gateway)
        if self._checkpoint_dir is not None:
            args = self.config["applications"][0]["args"]
            for engine in ("chatterbox", "conversion"):
                args[engine]["checkpoint_dir"] = str(self._checkpoint_dir)
        if self._chatterbox_user_config is not None:
            (chatterbox,) = [d for d in self.config["applications"][0]["deployments"] if d["name"] == "Chatterbox"]
            chatterbox["user_config"] = self._chatterbox_user_config
        self.base_url = f"http://127.0.0.1:{port}"
        self._config_file = tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=ROOT, prefix=".bench-config-")
        yaml.safe_dump(self.config, self._config_file)
        self._config_file.flush()
        self._process = subprocess.Popen([sys.executable, "-m", "install.serve_local", self._config_file.name],
                                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._wait_healthy()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise RuntimeError("the service did not become healthy")

    def __exit__(self, *_) -> None:
        self._process.terminate()
        self._process.wait(60)
        self._config_file.close()
