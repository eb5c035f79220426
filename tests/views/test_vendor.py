"""The vendored onnxruntime-web (ddpm/views/kit/static/vendor/onnxruntime-web/): its files are those its
MANIFEST.json names, byte for byte, the WebAssembly stored gzipped under a Space's 10 MB per file,
with its licenses; and it runs (in Node.js, where installed). The same of the vendored gifenc
(vendor/gifenc/): its ES module and license, as its manifest names them."""

import base64
import gzip
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO / "ddpm" / "views" / "kit" / "static" / "vendor" / "onnxruntime-web"
MANIFEST = json.loads((VENDOR / "MANIFEST.json").read_text())
WASM = "ort-wasm-simd-threaded.wasm.gz"
SPACE_FILE_LIMIT = 10 * 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_manifest_pins_a_stable_release_from_npm():
    version = MANIFEST["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{version} is not a stable release"
    assert MANIFEST["integrity"].startswith("sha512-")
    tarball = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{version}.tgz"
    assert MANIFEST["tarball"] == tarball
    banner = (VENDOR / "ort.wasm.bundle.min.mjs").read_bytes()[:200].decode()
    assert f"ONNX Runtime Web v{version}" in banner and "MIT" in banner


def test_every_file_is_the_one_the_manifest_names():
    files = MANIFEST["files"]
    assert {"ort.wasm.bundle.min.mjs", WASM, "LICENSE", "ThirdPartyNotices.txt"} <= set(files)
    on_disk = {p.name for p in VENDOR.iterdir()}
    assert on_disk == set(files) | {"MANIFEST.json", "README.md"}, "no file the manifest does not name"
    for name, entry in files.items():
        data = (VENDOR / name).read_bytes()
        assert (sha256(data), len(data)) == (entry["sha256"], entry["size"]), name
        assert len(data) < SPACE_FILE_LIMIT, name


def test_the_webassembly_is_stored_gzipped_and_decompresses_to_the_packages_file():
    entry = MANIFEST["files"][WASM]
    raw = gzip.decompress((VENDOR / WASM).read_bytes())
    assert (sha256(raw), len(raw)) == (entry["raw_sha256"], entry["raw_size"])
    assert raw[:4] == b"\0asm" and len(raw) > SPACE_FILE_LIMIT  # why it is stored gzipped
    assert not (VENDOR / "ort-wasm-simd-threaded.wasm").exists()


def test_its_licenses_travel_with_it():
    license_text = (VENDOR / "LICENSE").read_text()
    assert "MIT License" in license_text and "Microsoft Corporation" in license_text
    assert "THIRD PARTY SOFTWARE NOTICES" in (VENDOR / "ThirdPartyNotices.txt").read_text()


SQUARE = base64.b64decode(
    "CAg6NQoOCgF4CgF4EgF5IgNNdWwSAWdaDwoBeBIKCggIARIECgIIA2IPCgF5EgoKCAgBEgQKAggDQgQKABAN"
)
"""An ONNX graph, y = x * x on float32[3] (opset 13; written with onnx.helper)."""

RUNNER = """
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
const [folder, model] = process.argv.slice(2);
const ort = await import(folder + "/ort.wasm.bundle.min.mjs");
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmBinary = gunzipSync(readFileSync(folder + "/ort-wasm-simd-threaded.wasm.gz"));
const session = await ort.InferenceSession.create(readFileSync(model));
const x = new ort.Tensor("float32", Float32Array.from([1, 2, -3]), [3]);
const { y } = await session.run({ x });
console.log(JSON.stringify({ version: ort.env.versions.web, y: Array.from(y.data) }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_runtime_runs_a_network_from_the_gzipped_webassembly(tmp_path):
    (tmp_path / "run.mjs").write_text(RUNNER)
    (tmp_path / "square.onnx").write_bytes(SQUARE)
    done = subprocess.run(
        ["node", str(tmp_path / "run.mjs"), VENDOR.as_posix(), str(tmp_path / "square.onnx")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"version": MANIFEST["version"], "y": [1.0, 4.0, 9.0]}


GIFENC = REPO / "ddpm" / "views" / "kit" / "static" / "vendor" / "gifenc"
GIFENC_MANIFEST = json.loads((GIFENC / "MANIFEST.json").read_text())


def test_gifenc_is_a_stable_release_from_npm_file_for_file():
    version = GIFENC_MANIFEST["version"]
    assert GIFENC_MANIFEST["package"] == "gifenc" and re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert GIFENC_MANIFEST["integrity"].startswith("sha512-")
    assert GIFENC_MANIFEST["tarball"] == f"https://registry.npmjs.org/gifenc/-/gifenc-{version}.tgz"
    files = GIFENC_MANIFEST["files"]
    assert set(files) == {"gifenc.esm.js", "LICENSE.md"}
    assert files["gifenc.esm.js"]["from"] == "package/dist/gifenc.esm.js"  # the ES module build only
    on_disk = {p.name for p in GIFENC.iterdir()}
    assert on_disk == set(files) | {"MANIFEST.json", "README.md"}, "no file the manifest does not name"
    for name, entry in files.items():
        data = (GIFENC / name).read_bytes()
        assert (sha256(data), len(data)) == (entry["sha256"], entry["size"]), name


def test_gifenc_s_license_travels_with_it():
    text = (GIFENC / "LICENSE.md").read_text()
    assert "The MIT License" in text and "Matt DesLauriers" in text
    assert f"gifenc {GIFENC_MANIFEST['version']}" in (GIFENC / "README.md").read_text()
