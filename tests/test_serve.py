"""`eai-llm serve`: real HTTP requests against a started server (a uvicorn thread on a free port serving the
tiny model, and once the `eai-llm serve` command itself in a subprocess)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from eai_llm.cli import main
from eai_llm.data.synthetic import synthetic_clip
from eai_llm.interpreter import EmotionInterpreter
from eai_llm.serve import ServeLimits, create_app
from eai_llm.skeleton.io import save_clip

ROOT = Path(__file__).resolve().parents[1]
WALK = ROOT / "demo" / "examples" / "dataset-1_walk_angry_001.bvh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A uvicorn server in a thread (the model already loaded); ``url`` once it accepts connections."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def interp(tiny_model):
    return EmotionInterpreter.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def url(tiny_model, interp):
    limits = ServeLimits(max_upload_mb=1.0, max_seconds=30.0, request_timeout_s=60.0, max_new_tokens=8)
    with Server(create_app(tiny_model, limits=limits, interpreter=interp)) as u:
        yield u


@pytest.fixture(scope="module")
def npz_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("up") / "sad walk.npz"
    save_clip(synthetic_clip("sad", "kinect_v2", seconds=5.0, seed=7), path)
    return path


def post(url: str, path: Path, name: str | None = None, **fields) -> httpx.Response:
    files = {"file": (name or path.name, path.read_bytes(), "application/octet-stream")}
    return httpx.post(f"{url}/v1/interpret", files=files, data={k: str(v) for k, v in fields.items()}, timeout=120)


def test_health_model_and_docs(url, tiny_model):
    assert httpx.get(f"{url}/v1/health").json() == {"status": "ok"}
    info = httpx.get(f"{url}/v1/model").json()
    assert info["label_sets"]["emotion"][0] == "happy" and info["llm"] == "tiny-random"
    assert info["limits"]["max_upload_mb"] == 1.0
    assert str(tiny_model.parent) not in json.dumps(info)                  # no server path
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/interpret", "/v1/health", "/v1/model"} <= set(spec["paths"])
    assert httpx.get(f"{url}/docs").status_code == 200


def test_interpret_returns_what_interpret_json_prints(url, npz_clip, tiny_model, capsys):
    r = post(url, npz_clip, max_new_tokens=4)
    assert r.status_code == 200, r.text
    body = r.json()
    assert main(["interpret", str(npz_clip), "--model", str(tiny_model), "--json", "--max-new-tokens", "4"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert set(body) == set(cli) and body["source"] == "sad walk.npz"
    assert body["label"] == cli["label"] and body["probabilities"] == pytest.approx(cli["probabilities"], abs=1e-5)
    assert body["llm_probabilities"] == pytest.approx(cli["llm_probabilities"], abs=1e-5)
    assert body["raw_explanation"] == cli["raw_explanation"] and body["layout"] == "kinect_v2"
    assert "/tmp" not in r.text and "eai-llm-serve-" not in r.text


def test_form_options(url, tmp_path):
    pose = tmp_path / "pose.npy"
    np.save(pose, synthetic_clip("happy", "h36m_17", seconds=3.0, fps=25.0, seed=1).positions)
    r = post(url, pose, layout="h36m_17", fps=25, explain="false")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["explanation"] is None and body["layout"] == "h36m_17" and body["duration_s"] == pytest.approx(3.0)
    r = post(url, pose)
    assert r.status_code == 422 and r.json()["error"].startswith("pose.npy: layout:")


@pytest.mark.parametrize("case, status, pattern", [
    ("garbage", 422, r"^broken\.bvh: line 1: "),
    ("layout-path", 422, r"^layout '/etc/passwd.json': not a registered layout"),
    ("task", 422, r"^task 'style': this model knows emotion$"),
    ("fps", 422, r"^fps: "),
    ("too-big", 413, r"^upload: the request is larger than the limit of 1 MB$"),
    ("too-big-file", 413, r"^big\.bvh: the file is larger than the limit of 1 MB$"),
    ("too-long", 413, r"^long\.npz: the clip lasts 40\.0 s, the limit is 30 s$"),
])
def test_errors_are_one_line_naming_the_upload(url, tmp_path, npz_clip, case, status, pattern):
    import re

    if case == "garbage":
        (tmp_path / "broken.bvh").write_text("garbage\n")
        r = post(url, tmp_path / "broken.bvh")
    elif case == "layout-path":
        r = post(url, npz_clip, layout="/etc/passwd.json")
    elif case == "task":
        r = post(url, npz_clip, task="style")
    elif case == "fps":
        r = post(url, npz_clip, fps="fast")
    elif case == "too-big":
        (tmp_path / "big.bvh").write_bytes(b"x" * (2 * 1024 * 1024))
        r = post(url, tmp_path / "big.bvh")
    elif case == "too-big-file":      # within the request allowance for form fields, but the file is too big
        (tmp_path / "big.bvh").write_bytes(b"x" * (1024 * 1024 + 1000))
        r = post(url, tmp_path / "big.bvh")
    else:
        save_clip(synthetic_clip("sad", seconds=40.0, fps=10.0, seed=1), tmp_path / "long.npz")
        r = post(url, tmp_path / "long.npz")
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert re.search(pattern, err) and "\n" not in err and str(tmp_path) not in err and "/tmp" not in err
    assert httpx.get(f"{url}/v1/health").status_code == 200                # the server keeps serving


def test_time_limit_504_then_the_server_keeps_serving(url, npz_clip):
    r = post(url, npz_clip, timeout_s=0.001)
    assert r.status_code == 504 and r.json()["error"] == (
        "sad walk.npz: the interpretation took longer than the limit of 0.001 s")
    assert post(url, npz_clip, explain="false").status_code == 200


def test_concurrent_requests_do_not_interfere(url, tmp_path, interp):
    paths = []
    for i, (label, layout) in enumerate([("sad", "kinect_v2"), ("happy", "unified"), ("angry", "kinect_v2")]):
        p = tmp_path / f"c{i}.npz"
        save_clip(synthetic_clip(label, layout, seconds=4.0, seed=10 + i), p)
        paths.append(p)
    expected = [interp.interpret(p, explain=False).probabilities for p in paths]
    with ThreadPoolExecutor(3) as pool:
        bodies = list(pool.map(lambda p: post(url, p, explain="false").json(), paths * 2))
    for body, want in zip(bodies, expected * 2):
        assert body["probabilities"] == pytest.approx(want, abs=1e-5)
    assert [b["source"] for b in bodies] == [p.name for p in paths] * 2


@pytest.mark.slow
def test_the_serve_command(tiny_model, npz_clip):
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "eai_llm.cli", "serve", "--model", str(tiny_model), "--port",
                             str(port), "--threads", "1", "--max-new-tokens", "4"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).json()["status"] == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "eai-llm serve did not come up"
            time.sleep(0.5)
        r = post(url, WALK)
        assert r.status_code == 200 and r.json()["source"] == WALK.name and r.json()["layout"] == "bandai_namco_22"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Traceback" not in out


def test_serve_arguments_are_checked_first(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope'}: no such model directory"
    assert main(["serve", "--port", "70000", "--model", str(tmp_path)]) == 2
    assert "--port: expected 1-65535" in capsys.readouterr().err
