"""What the page's engine is given (ddpm/serve/engine.py): its config file served under its hash,
the networks the server's views use with their manifests, the core's own tables, the reason when it
cannot run, and the server's load."""

import base64
import json
import shutil

import pytest
import torch
from test_static_files import App, call

from ddpm import checkpoint, classifier
from ddpm.serve import compute, engine, runtime
from ddpm.serve.static_files import StaticFiles


def manifest(folder: str) -> dict:
    return json.loads((checkpoint.resolve(folder) / "model.onnx.json").read_text())


@pytest.fixture
def fresh(monkeypatch):
    """The engine's and the runtime's cached answers forgotten before and after (a test may point
    DDPM_CHECKPOINT elsewhere)."""

    def clear():
        for cached in (engine.availability, engine.config_url, runtime._unconditional, runtime._config,
                       runtime._diffusion_cpu):  # fmt: skip
            cached.cache_clear()

    clear()
    yield monkeypatch
    clear()


def test_the_config_names_the_networks_the_views_run_and_carries_the_cores_tables(fresh):
    assert engine.availability() is None  # the shipped networks have their ONNX copies
    config = engine.config()
    assert set(config) == {"runtime", "models", "tables"}
    told, untold = config["models"]["told"], config["models"]["untold"]
    # the same networks as the server's learned_reverse(told_class): the default model, and the one
    # its config names for the view without the class (the ε-model)
    assert told["manifest"] == json.loads(
        (checkpoint.resolve(runtime.checkpoint_path()) / "model.onnx.json").read_text()
    )
    assert untold["manifest"] == json.loads(
        (checkpoint.resolve(runtime.unconditional_path()) / "model.onnx.json").read_text()
    )
    assert told["manifest"]["config"]["parameterization"] == runtime.model_config().parameterization
    assert untold["manifest"]["config"]["parameterization"] == runtime.unconditional_config().parameterization
    # and the digit classifier that reads x̂_0 (the read-out, the chains' ends)
    assert config["models"]["classifier"]["manifest"] == json.loads(
        (classifier.BUNDLED / "model.onnx.json").read_text()
    )
    tables = runtime.diffusion_cpu().step_tables()
    assert config["tables"] == tables
    assert torch.equal(torch.tensor(tables["alphas_cumprod"]), runtime.diffusion_cpu().alphas_cumprod)


def test_every_url_of_the_config_is_served_as_the_file_it_names(fresh):
    app = StaticFiles(App())
    url = engine.config_url()
    path, query = url.split("?")
    status, headers, body = call(app, path, query=query.encode())
    assert status == 200 and "immutable" in headers["cache-control"]
    config = json.loads(body)
    assert config == json.loads(json.dumps(engine.config()))
    assert set(config["models"]) == {"told", "untold", "classifier"}
    for role in config["models"]:
        path, query = config["models"][role]["url"].split("?")
        status, headers, body = call(app, path, query=query.encode())
        folder = checkpoint.resolve(engine.NETWORKS[role]())
        assert status == 200 and body == (folder / "model.onnx").read_bytes()
    assert set(config["runtime"]) == {"module", "wasm", "gif"}
    for name in ("module", "wasm", "gif"):
        path, query = config["runtime"][name].split("?")
        assert call(app, path, query=query.encode())[0] == 200
    assert call(app, engine.worker_url().split("?")[0])[0] == 200


def test_a_checkpoint_without_its_onnx_copy_is_a_reason_not_an_error(fresh, tmp_path):
    folder = tmp_path / "retrained"
    shutil.copytree(checkpoint.DEFAULT, folder, ignore=shutil.ignore_patterns("model.onnx*"))
    fresh.setenv("DDPM_CHECKPOINT", str(folder))
    reason = engine.availability()
    assert reason is not None and "export_onnx.py" in reason and "told" in reason
    assert engine.config_url() is None
    with pytest.raises(ValueError, match="ONNX"):
        engine.config()


def test_the_load_route_reports_the_schedulers_state_and_passes_the_rest_on(monkeypatch):
    monkeypatch.setattr(compute.SCHEDULER, "tick_seconds", 0.125)
    app = App()
    route = engine.LoadRoute(app)
    status, headers, body = call(route, engine.LOAD_PATH)
    assert status == 200 and headers["cache-control"] == "no-store"
    load = json.loads(body)
    scheduler = compute.SCHEDULER
    assert load == {"tick_seconds": 0.125, "running": len(scheduler.running), "waiting": len(scheduler.line),
                    "max_rows": scheduler.max_rows}  # fmt: skip
    assert call(route, engine.LOAD_PATH, method="POST")[2] == b"from the app"
    assert call(route, "/ddpm-load/x")[2] == b"from the app" and app.paths == ["/ddpm-load", "/ddpm-load/x"]


def test_the_tables_travel_bit_for_bit_as_json(fresh):
    tables = json.loads(json.dumps(engine.config()["tables"]))
    for name, values in tables.items():
        ours = torch.tensor(values, dtype=torch.float32)
        core = getattr(runtime.diffusion_cpu(), name)
        assert base64.b64encode(ours.numpy().tobytes()) == base64.b64encode(core.numpy().tobytes()), name
