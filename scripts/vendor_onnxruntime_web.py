"""Vendor onnxruntime-web: the two files the page's engine runs on, with their licenses and a manifest.

    python scripts/vendor_onnxruntime_web.py 1.31.1

Fetches the npm package with ``npm pack``, checks the tarball against the registry's ``dist.integrity``
(sha512), and writes into ``ddpm/views/kit/static/vendor/onnxruntime-web/`` (replacing what is there):

- ``ort.wasm.bundle.min.mjs``: the WASM-only build as one ES module (no dynamic imports);
- ``ort-wasm-simd-threaded.wasm.gz``: its WebAssembly, gzip level 9 (the raw file is ~15 MB, above
  a Space's 10 MB per file; the page's Worker decompresses it with ``DecompressionStream``);
- the license and third-party notices: those the npm package ships under the names ``LICENSE*`` and
  ``ThirdPartyNotices*``, or, where it ships none (1.31.1 ships none), those of the same release's
  Python wheel (``pip download onnxruntime==VERSION``), built from the same source tree;
- ``MANIFEST.json``: the version, the npm integrity and tarball URL, and every file's sha256 and
  size (for the WebAssembly, of the raw bytes and of the stored ``.gz``).

``tests/views/test_vendor.py`` checks the folder against the manifest.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

PACKAGE = "onnxruntime-web"
WHEEL = "onnxruntime"  # the same release's Python package, for its notices
OUT = Path(__file__).resolve().parent.parent / "ddpm" / "views" / "kit" / "static" / "vendor" / PACKAGE
MODULE = "package/dist/ort.wasm.bundle.min.mjs"
WASM = "package/dist/ort-wasm-simd-threaded.wasm"
NOTICE_NAMES = re.compile(r"^(license|thirdpartynotices)([.-].*)?$", re.IGNORECASE)
README = """# onnxruntime-web {version}

The runtime of the page's engine (`../../engine/`): ONNX Runtime Web's WASM build, run on one
thread in a module Worker. Vendored by `scripts/vendor_onnxruntime_web.py {version}` from the npm
package (MIT, Microsoft; see LICENSE and ThirdPartyNotices.txt); every file's sha256 is in
MANIFEST.json. Do not edit these files: re-vendor instead. The WebAssembly is stored gzipped
(`.wasm.gz`, a Space takes no file over 10 MB) and served as stored; the Worker decompresses it.
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["npm", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def check_integrity(tarball: bytes, integrity: str) -> None:
    """Raise unless ``tarball`` is the one the registry names (its ``sha512-<base64>``)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"unexpected integrity algorithm {algorithm!r} (want sha512): {integrity}")
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if actual != expected:
        raise SystemExit(f"the tarball's sha512 is {actual}, the registry says {expected}")


def notices_from_tarball(tar: tarfile.TarFile) -> dict[str, tuple[str, bytes]]:
    """``{name: (source, bytes)}`` of the package's own LICENSE and ThirdPartyNotices files."""
    found = {}
    for member in tar.getmembers():
        name = PurePosixPath(member.name).name
        if member.isfile() and NOTICE_NAMES.match(name) and name not in found:
            found[name] = (member.name, tar.extractfile(member).read())
    return found


def notices_from_wheel(version: str, scratch: Path) -> tuple[dict[str, tuple[str, bytes]], dict]:
    """The LICENSE and ThirdPartyNotices.txt of ``onnxruntime==version``'s wheel for this platform."""
    folder = scratch / "wheel"
    command = [sys.executable, "-m", "pip", "download", f"{WHEEL}=={version}", "--no-deps",
               "--only-binary=:all:", "-q", "-d", str(folder)]  # fmt: skip
    subprocess.run(command, check=True)
    (wheel,) = folder.glob("*.whl")
    found = {}
    with zipfile.ZipFile(wheel) as archive:
        for entry in archive.namelist():
            name = PurePosixPath(entry).name
            if entry.startswith(f"{WHEEL}/") and NOTICE_NAMES.match(name):
                found[name] = (f"{wheel.name}:{entry}", archive.read(entry))
    if not found:
        raise SystemExit(f"{wheel.name} ships no LICENSE or ThirdPartyNotices either")
    why = f"the npm package {PACKAGE}@{version} ships no LICENSE or ThirdPartyNotices"
    source = {"wheel": wheel.name, "sha256": sha256(wheel.read_bytes()), "why": why}
    return found, source


def npm_tarball(package: str, version: str) -> tuple[dict, bytes]:
    """npm's ``dist`` record of ``package@version`` and its tarball, checked against its integrity."""
    dist = json.loads(npm("view", f"{package}@{version}", "dist", "--json"))
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        packed = json.loads(npm("pack", f"{package}@{version}", "--json", "--pack-destination", str(scratch)))
        tarball = (scratch / packed[0]["filename"]).read_bytes()
    check_integrity(tarball, dist["integrity"])
    return dist, tarball


def vendor(version: str, out: Path = OUT) -> dict:
    """Fetch, check and write the folder; return the manifest."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise SystemExit(f"{version!r} is not a stable release (want MAJOR.MINOR.PATCH, no -dev build)")
    dist, tarball = npm_tarball(PACKAGE, version)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        module = tar.extractfile(MODULE).read()
        wasm = tar.extractfile(WASM).read()
        notices = notices_from_tarball(tar)
    source = None
    if not notices:
        with tempfile.TemporaryDirectory() as tmp:
            notices, source = notices_from_wheel(version, Path(tmp))

    stored = gzip.compress(wasm, compresslevel=9, mtime=0)
    raw = {"raw_sha256": sha256(wasm), "raw_size": len(wasm), "gzip_level": 9}
    files = {
        PurePosixPath(MODULE).name: (MODULE, module, {}),
        PurePosixPath(WASM).name + ".gz": (WASM, stored, raw),
    }
    files |= {name: (origin, data, {}) for name, (origin, data) in sorted(notices.items())}
    manifest = {
        "package": PACKAGE,
        "version": version,
        "integrity": dist["integrity"],
        "tarball": dist["tarball"],
        "files": {
            name: {"from": origin, "sha256": sha256(data), "size": len(data), **extra}
            for name, (origin, data, extra) in files.items()
        },
    }
    if source is not None:
        manifest["notices_from"] = source

    write_folder(
        out, {name: data for name, (_, data, _) in files.items()}, README.format(version=version), manifest
    )
    return manifest


def write_folder(out: Path, files: dict[str, bytes], readme: str, manifest: dict) -> None:
    """The vendored folder anew: its old files gone, then ``files``, its README and MANIFEST.json."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file():
            old.unlink()
    for name, data in files.items():
        (out / name).write_bytes(data)
    (out / "README.md").write_text(readme, encoding="utf-8")
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def command_line(
    argv: list[str] | None, description: str, example: str, vendor_fn, out: Path, package: str
) -> None:
    """A vendoring script's command line: ``version [--out]``, then the files written, one a line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("version", help=f"a stable release, e.g. {example} (npm view {package} versions)")
    parser.add_argument("--out", type=Path, default=out, help="the folder to write (default: the package's)")
    args = parser.parse_args(argv)
    manifest = vendor_fn(args.version, args.out)
    for name, entry in manifest["files"].items():
        print(f"{entry['size']:>10}  {entry['sha256'][:16]}  {name}")
    print(f"{package} {args.version} -> {args.out}")


def main(argv: list[str] | None = None) -> None:
    command_line(argv, __doc__.splitlines()[0], "1.31.1", vendor, OUT, PACKAGE)


if __name__ == "__main__":
    main()
