"""Vendor gifenc: the GIF encoder of the page's engine, its license and a manifest.

    python scripts/vendor_gifenc.py 1.0.3

Fetches the npm package with ``npm pack``, checks the tarball against the registry's ``dist.integrity``
(sha512), and writes into ``ddpm/views/kit/static/vendor/gifenc/`` (replacing what is there):

- ``gifenc.esm.js``: the package's ES module build, one file with no imports, as shipped;
- ``LICENSE.md``: the package's own license (MIT, Matt DesLauriers);
- ``MANIFEST.json``: the version, the npm integrity and tarball URL, and every file's sha256 and size.

The helpers (the npm calls, the integrity check, finding the license) are
``vendor_onnxruntime_web.py``'s. ``tests/views/test_vendor.py`` checks the folder against the manifest.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path, PurePosixPath

from vendor_onnxruntime_web import (
    command_line,
    notices_from_tarball,
    npm_tarball,
    sha256,
    write_folder,
)

PACKAGE = "gifenc"
OUT = Path(__file__).resolve().parent.parent / "ddpm" / "views" / "kit" / "static" / "vendor" / PACKAGE
MODULE = "package/dist/gifenc.esm.js"
README = """# gifenc {version}

The GIF encoder of the page's engine (`../../engine/files.js`: the animated GIF of a generation,
made in the student's page as the server makes it). Vendored by `scripts/vendor_gifenc.py {version}`
from the npm package (MIT, Matt DesLauriers; see LICENSE.md): its ES module build, as shipped (its
last line names a source map that is not vendored). Every file's sha256 is in MANIFEST.json. Do not
edit these files: re-vendor instead.
"""


def vendor(version: str, out: Path = OUT) -> dict:
    """Fetch, check and write the folder; return the manifest."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise SystemExit(f"{version!r} is not a stable release (want MAJOR.MINOR.PATCH)")
    dist, tarball = npm_tarball(PACKAGE, version)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        module = tar.extractfile(MODULE).read()
        notices = notices_from_tarball(tar)
    if not notices:
        raise SystemExit(f"{PACKAGE}@{version} ships no LICENSE")

    files = {PurePosixPath(MODULE).name: (MODULE, module)} | dict(sorted(notices.items()))
    manifest = {
        "package": PACKAGE,
        "version": version,
        "integrity": dist["integrity"],
        "tarball": dist["tarball"],
        "files": {
            name: {"from": origin, "sha256": sha256(data), "size": len(data)}
            for name, (origin, data) in files.items()
        },
    }
    write_folder(
        out, {name: data for name, (_, data) in files.items()}, README.format(version=version), manifest
    )
    return manifest


def main(argv: list[str] | None = None) -> None:
    command_line(argv, __doc__.splitlines()[0], "1.0.3", vendor, OUT, PACKAGE)


if __name__ == "__main__":
    main()
