"""The app as a Hugging Face Space: the files it needs, the Space's own files for a hardware, the upload.

A Space gets the app's tree, not the repository's history: the repository's tracked files
(``git ls-files``; a folder walk where there is no git checkout) that the app needs (:data:`KEEP`
less :data:`LEAVE_OUT`: no tests, docs, scripts, command-line tools or benchmarks), and three files
written for the hardware (``"cpu"``: a free CPU Space; ``"zero"``: ZeroGPU):

- ``README.md``: the repository's README, its front matter completed with ``python_version``
  (:data:`PYTHON`), ``sdk_version`` (the installed gradio) and ``suggested_hardware``;
- ``requirements.txt``: the repository's, behind PyTorch's CPU index on a CPU Space (plain
  ``torch`` on Linux is the CUDA build, a 5.8 GB environment) and as it is on ZeroGPU (the CUDA
  build; ZeroGPU provides ``spaces``);
- ``.gitattributes``: every binary file, and any file of 10 MiB or more, marked for the Hub's
  large-file storage (the Hub refuses a binary file stored any other way, whatever its size).

:func:`stage` writes them to a folder, :func:`describe` lists it, :func:`upload` sends it with
``huggingface_hub``'s folder upload (the only function here that touches the network).
``python -m ddpm.deploy`` runs the three.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Literal

from .choices import check_choice

Hardware = Literal["cpu", "zero"]
HARDWARES: tuple[str, ...] = ("cpu", "zero")
FLAVORS = {"cpu": "cpu-basic", "zero": "zero-a10g"}
"""The Hub's name of each hardware (``huggingface_hub.SpaceHardware``)."""
PYTHON = {"cpu": "3.11", "zero": "3.10.13"}
"""The Space's Python: the version the tests run on; on ZeroGPU the one it runs (its docs: 3.10.13)."""
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

REPOSITORY = Path(__file__).resolve().parent.parent
"""The checkout this package lives in: its ``app.py`` is the one deployed."""
KEEP = ("app.py", "LICENSE", "ddpm/", "checkpoints/")
"""What the app needs: files, and folders (ending in ``/``) whose files it needs."""
LEAVE_OUT = (
    "ddpm/bench/",
    "ddpm/train.py",
    "ddpm/train_classifier.py",
    "ddpm/train_toy.py",
    "ddpm/sample.py",
    "ddpm/evaluate.py",
    "ddpm/deploy.py",
    "ddpm/space.py",
    "ddpm/training/",
    "ddpm/metrics.py",
)
"""The command-line tools and benchmarks, and the library only they use (the training under
``train.py``, the figures of ``evaluate.py``): the app imports none of them."""
LFS_PATTERNS = ("*.safetensors", "*.npz", "*.npy", "*.pt", "*.pth", "*.bin", "*.zip", "*.gz")
LFS_PATTERNS += ("*.png", "*.jpg", "*.jpeg", "*.gif", "*.webp", "*.ico")
"""Marked for large-file storage whatever the files (other binaries are marked by name)."""
LARGE_BYTES = 10 * 2**20
"""From this size the Hub wants a file in large-file storage even when it is text."""
LFS_ATTRIBUTES = "filter=lfs diff=lfs merge=lfs -text"


@dataclass(frozen=True)
class SpaceFile:
    """One file of a staged Space."""

    path: str  # relative to the Space's root, with "/"
    size: int  # bytes
    needs_lfs: bool  # binary (a NUL byte in its first 8000 bytes, or not UTF-8) or ≥ LARGE_BYTES
    lfs: bool  # marked for large-file storage by the Space's .gitattributes


def check_space_id(space: str) -> str:
    """``space`` if it names a Space as the Hub spells one, ``USER/NAME`` (letters, digits, ``-``,
    ``_`` and ``.``; no ``--`` or ``..``; ``-`` and ``.`` neither first nor last), else ValueError."""
    parts = space.split("/")
    good = len(parts) == 2 and len(space) <= 96 and all(
        re.fullmatch(r"[A-Za-z0-9_](?:[\w.-]*[A-Za-z0-9_])?", part) and "--" not in part and ".." not in part
        for part in parts
    )  # fmt: skip
    if not good:
        raise ValueError(f"Space {space!r} is not USER/NAME (an owner and a name, e.g. me/ddpm-explorer)")
    return space


def wanted(path: str) -> bool:
    """Whether the Space needs the repository's file ``path`` (relative, with ``/``)."""
    if any(part.startswith(".") or part == "__pycache__" for part in PurePosixPath(path).parts):
        return False

    def under(rules: tuple[str, ...]) -> bool:
        return any(path == rule or (rule.endswith("/") and path.startswith(rule)) for rule in rules)

    return under(KEEP) and not under(LEAVE_OUT) and not path.endswith((".pyc", ".pyo"))


def app_files(root: Path = REPOSITORY) -> list[str]:
    """The files of ``root`` that the Space needs, sorted: its tracked files (``git ls-files``, so no
    build output or scratch file is picked up), or every file where ``root`` is no git checkout."""
    root = Path(root)
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
        names = [name for name in listed.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    return sorted(name for name in names if wanted(name) and (root / name).is_file())


def needs_lfs(path: Path) -> bool:
    """Whether the Hub wants ``path`` in large-file storage: a NUL byte in its first 8000 bytes (git's
    test), bytes that are not UTF-8, or :data:`LARGE_BYTES` or more."""
    path = Path(path)
    with path.open("rb") as f:
        if b"\0" in f.read(8000):
            return True
    if path.stat().st_size >= LARGE_BYTES:
        return True
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def lfs_patterns(gitattributes: str) -> list[str]:
    """The patterns of a ``.gitattributes`` text that send files to large-file storage."""
    lines = (line.split() for line in gitattributes.splitlines() if not line.lstrip().startswith("#"))
    return [words[0] for words in lines if len(words) > 1 and "filter=lfs" in words[1:]]


def matches(path: str, pattern: str) -> bool:
    """gitattributes' matching for the patterns written here: one without ``/`` matches the file's
    name in any folder; one with ``/`` the whole path from the root."""
    if "/" in pattern:
        return fnmatchcase(path, pattern.lstrip("/"))
    return fnmatchcase(PurePosixPath(path).name, pattern)


def gitattributes(binaries: Iterable[str]) -> str:
    """A ``.gitattributes`` that marks :data:`LFS_PATTERNS` and every path of ``binaries`` that they
    do not match (by its own path) for large-file storage."""
    patterns = list(LFS_PATTERNS)
    for path in sorted(binaries):
        if not any(matches(path, p) for p in patterns):
            if re.search(r"[\s*?\[\]\\!#]", path):
                raise ValueError(
                    f"cannot mark {path!r} for large-file storage: a space or * ? [ ] \\ ! # in it"
                )
            patterns.append(path)
    return "".join(f"{pattern} {LFS_ATTRIBUTES}\n" for pattern in patterns)


def space_requirements(requirements: str, hardware: Hardware) -> str:
    """The Space's ``requirements.txt`` for ``hardware``: the repository's ``requirements`` text under
    a header; on a CPU Space PyTorch's CPU index first."""
    check_choice("hardware", hardware, HARDWARES)
    head = f"# The Space's requirements ({FLAVORS[hardware]}): requirements.txt, by python -m ddpm.deploy.\n"
    if hardware == "cpu":
        head += "# PyTorch's CPU wheels: plain `torch` on Linux is the CUDA build (a 5.8 GB environment).\n"
        head += f"--extra-index-url {CPU_INDEX}\n"
    else:
        head += "# ZeroGPU runs PyTorch's CUDA build (plain `torch` from PyPI) and provides `spaces`.\n"
    return head + requirements


def space_readme(readme: str, hardware: Hardware, files: Iterable[str]) -> str:
    """The Space's ``README.md``: ``readme``'s front matter with ``python_version``, ``sdk_version``
    and ``suggested_hardware`` set for ``hardware``, and its body without the pictures that stay
    behind (a line holding only ``![...](path)`` whose path is not among ``files``)."""
    check_choice("hardware", hardware, HARDWARES)
    if not readme.startswith("---\n") or "\n---\n" not in readme[3:]:
        raise ValueError("the README has no front matter (a block between two '---' lines at its top)")
    end = readme.index("\n---\n", 3)
    fields = readme[4:end].splitlines()
    values = {
        "python_version": f'"{PYTHON[hardware]}"',
        "sdk_version": f'"{importlib.metadata.version("gradio")}"',
        "suggested_hardware": FLAVORS[hardware],
    }
    for key, value in values.items():
        line = f"{key}: {value}"
        at = [i for i, field in enumerate(fields) if re.match(rf"{key}\s*:", field)]
        if at:
            fields[at[0]] = line
        else:
            fields.append(line)
    kept = set(files)
    picture = re.compile(r"\s*!\[[^\]]*\]\(([^)\s]+)[^)]*\)\s*")
    body = [
        line
        for line in readme[end + 5 :].splitlines(keepends=True)
        if not ((m := picture.fullmatch(line)) and "://" not in m[1] and m[1] not in kept)
    ]
    return "---\n" + "\n".join(fields) + "\n---\n" + "".join(body)


def listing(folder: Path) -> list[SpaceFile]:
    """Every file of the staged ``folder``, sorted by path, with its size, whether it needs
    large-file storage and whether the folder's ``.gitattributes`` gives it that."""
    folder = Path(folder)
    attributes = folder / ".gitattributes"
    patterns = lfs_patterns(attributes.read_text()) if attributes.is_file() else []
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        lfs = any(matches(name, p) for p in patterns)
        files.append(SpaceFile(name, path.stat().st_size, needs_lfs(path), lfs))
    return files


def stage(out: Path, hardware: Hardware, root: Path = REPOSITORY) -> list[SpaceFile]:
    """Write the Space for ``hardware`` into the empty (or new) folder ``out``: the files of ``root``
    that the app needs (:func:`app_files`), its README, requirements and ``.gitattributes``.
    Returns :func:`listing` of ``out``; raises ValueError for a bad hardware, a folder that is not
    empty or a root without ``app.py``, and RuntimeError if a file that needs it were not marked."""
    check_choice("hardware", hardware, HARDWARES)
    root, out = Path(root), Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"the staging folder {out} is not empty")
    names = app_files(root)
    if "app.py" not in names:
        raise ValueError(f"{root} holds no app.py to deploy")
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, out / name)
    readme = (root / "README.md").read_text(encoding="utf-8")
    (out / "README.md").write_text(space_readme(readme, hardware, names), encoding="utf-8")
    requirements = (root / "requirements.txt").read_text(encoding="utf-8")
    (out / "requirements.txt").write_text(space_requirements(requirements, hardware), encoding="utf-8")
    binaries = [f.path for f in listing(out) if f.needs_lfs]
    (out / ".gitattributes").write_text(gitattributes(binaries), encoding="utf-8")
    files = listing(out)
    unmarked = [f.path for f in files if f.needs_lfs and not f.lfs]
    if unmarked:
        raise RuntimeError(f"files not marked for large-file storage: {unmarked}")
    return files


def format_size(size: int) -> str:
    """``size`` bytes in the Hub's decimal units: ``"950 B"``, ``"17.5 kB"``, ``"4.6 MB"``."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def describe(files: list[SpaceFile], hardware: Hardware) -> str:
    """What a staged Space holds: one line per file (its size, ``LFS`` where it goes through
    large-file storage) and the total."""
    check_choice("hardware", hardware, HARDWARES)
    lines = [f"A Space on {FLAVORS[hardware]}, Python {PYTHON[hardware]}:"]
    lines += [f"{format_size(f.size):>10}  {'LFS' if f.lfs else '   '}  {f.path}" for f in files]
    total, large = sum(f.size for f in files), sum(f.size for f in files if f.lfs)
    lines.append(
        f"{len(files)} files, total {format_size(total)} ({total:,} bytes; "
        f"{format_size(large)} of it through large-file storage)"
    )
    return "\n".join(lines)


def upload(
    folder: Path, space: str, hardware: Hardware, token: str | None = None, private: bool = False
) -> str:
    """Send the staged ``folder`` to the Space ``space`` (``USER/NAME``, created as a Gradio Space on
    ``hardware`` if it does not exist, moved to ``hardware`` if it runs on another) as one tree:
    files of an earlier upload that ``folder`` lacks are deleted. ``token``: a Hub token, else
    ``HF_TOKEN`` or the saved login. Returns the Space's address."""
    check_space_id(space)
    check_choice("hardware", hardware, HARDWARES)
    from huggingface_hub import HfApi  # only here: staging and dry runs never load it

    flavor = FLAVORS[hardware]
    api = HfApi(token=token)
    api.create_repo(
        space, repo_type="space", space_sdk="gradio", space_hardware=flavor, exist_ok=True,
        private=True if private else None,
    )  # fmt: skip
    runtime = api.get_space_runtime(space)
    if flavor not in (runtime.hardware, runtime.requested_hardware):  # an existing Space on other hardware
        api.request_space_hardware(space, flavor)
    api.upload_folder(
        folder_path=str(folder), repo_id=space, repo_type="space", delete_patterns="*",
        commit_message=f"Deploy the app ({flavor}) with python -m ddpm.deploy",
    )  # fmt: skip
    return f"{api.endpoint}/spaces/{space}"
