"""Issue 15: the started demo survives hostile files while serving another user normally (headless Chromium).

Three users at once against one server: one uploads an NPZ whose ``layout`` field names a real layout file on the
server (the layout-injection repro), one uploads an NPZ with an embedded 20,000-joint layout, one interprets a
normal clip. Each hostile file gets a one-line error in the page's words (no server path, no traceback, no model
run); the normal user's result is right (the same probabilities as the interpreter gives in-process) and arrives
within the page timeout; afterwards nothing the hostile files named is registered, and a clip whose joints match
the injected layout is read exactly as before the attack.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from demo_browser import (browser, ARGS, CHROMIUM, SAD, CountingModel, assert_chart, error_line, free_port, open_page,
                          require_browser, upload, wait_done, wait_preview)

playwright_api = require_browser()

INJECTED = "injected_rig_issue15"


@pytest.fixture(scope="module")
def server(tiny_model):
    from eai_llm.demo import serve

    port = free_port()
    demo = serve(tiny_model, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    demo.eai_backend.holder.get(timeout=120)
    yield demo, f"http://127.0.0.1:{port}/"
    demo.close()


def _hostile_files(tmp_path):
    """The injection NPZ (naming a real layout JSON on the server), a 20,000-joint NPZ, and a victim CSV whose
    column names are the injected layout's joints."""
    from eai_llm.skeleton.layouts import get_layout

    spec = get_layout("kinect_v2").to_dict()
    spec["name"] = INJECTED
    rename = {j["name"]: f"rig{k}" for k, j in enumerate(spec["joints"])}
    for j in spec["joints"]:
        j["name"] = rename[j["name"]]
        j["parent"] = rename.get(j["parent"]) if j["parent"] else None
    layout_file = tmp_path / "server_side" / "x.json"
    layout_file.parent.mkdir()
    layout_file.write_text(json.dumps(spec))
    injection = tmp_path / "p.npz"
    np.savez(injection, positions=np.zeros((2, 1, 3), "f4"), fps=np.array(30.), layout=np.array(str(layout_file)))

    names = [f"j{i}" for i in range(20_000)]
    big = {"name": "huge", "joints": [{"name": n, "parent": names[i - 1] if i else None} for i, n in enumerate(names)]}
    huge = tmp_path / "joints20000.npz"
    np.savez_compressed(huge, positions=np.zeros((2, 20_000, 3), "f4"), fps=np.array(30.), layout=np.array(json.dumps(big)))

    victim = tmp_path / "victim_rig.csv"
    joints = [j["name"] for j in spec["joints"]]
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 0.3, (60, 3 * len(joints))) + np.tile([0, 1, 0], len(joints))
    victim.write_text(",".join(f"{n}_{a}" for n in joints for a in "xyz") + "\n" +
                      "\n".join(",".join(f"{v:.4f}" for v in row) for row in rows) + "\n")
    return layout_file, injection, huge, victim


def _outcome(path) -> str:
    """What the demo makes of a clip: its layout name, or its one-line error."""
    from eai_llm.demo import read_upload, user_message

    try:
        return f"layout {read_upload(path).layout.name}"
    except Exception as err:
        return f"error {user_message(err, path)}"


def test_hostile_uploads_are_refused_while_another_user_is_served(server, browser, tmp_path, monkeypatch):
    from eai_llm.skeleton.layouts import list_layouts

    demo, url = server
    interp = demo.eai_backend.holder.get()
    layout_file, injection, huge, victim = _hostile_files(tmp_path)
    expected = interp.interpret(str(SAD), explain=False).probabilities
    victim_before = _outcome(victim)             # before any hostile upload (the registry is untouched)
    layouts_before = list_layouts()
    model = CountingModel(interp, monkeypatch)

    normal, attacker, giant = (open_page(browser, url) for _ in range(3))
    upload(normal, SAD)
    upload(attacker, injection)
    upload(giant, huge)
    wait_preview(normal, SAD.name)
    t0 = time.perf_counter()
    normal.locator("#eai-run").click()
    attacker.locator("#eai-run").click()        # pressing Interpret on a refused file changes nothing
    giant.locator("#eai-run").click()

    messages = {}
    for page, path in ((attacker, injection), (giant, huge)):
        message = error_line(page)
        messages[path.name] = message
        assert message.startswith(f"Could not interpret this clip. {path.name}: "), message
        assert len(message.splitlines()) == 1 and "Traceback" not in message
        for leak in (str(tmp_path), str(layout_file), "x.json", "/tmp/", "--layout", "layout="):
            assert leak not in message, f"{leak!r} in {message!r}"
        assert not page.locator("#eai-probs").is_visible()
    assert "accepts skeletons of up to 1024 joints" in messages[huge.name]
    assert "never a file to open" in messages[injection.name]

    # the other user: served normally, with the right result
    wait_done(normal, SAD.name)
    served_s = time.perf_counter() - t0
    bars = assert_chart(normal, interp.label_sets["emotion"])
    assert bars == pytest.approx(expected, abs=1e-3)
    assert not normal.locator("#eai-error").is_visible()
    assert model.calls == 1, "a hostile file reached the model"

    # nothing a data file named is registered; a clip with the injected layout's joints reads as before
    assert list_layouts() == layouts_before and INJECTED not in list_layouts()
    later = open_page(browser, url)
    upload(later, victim)
    if victim_before.startswith("error "):
        assert error_line(later) == f"Could not interpret this clip. {victim_before[len('error '):]}"
    else:
        wait_preview(later, victim.name)
        assert f"layout {victim_before[len('layout '):]}" in later.locator("#eai-clip").inner_text()
    assert INJECTED not in later.locator("body").inner_text()
    print(f"normal user served in {served_s:.1f} s beside two hostile uploads")
    for page in (normal, attacker, giant, later):
        page.context.close()
