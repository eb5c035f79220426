"""The app as a Hugging Face Space (ddpm.space, ``python -m ddpm.deploy``), without the network: the
staged folder holds what the app needs and nothing else, git itself sends every binary file of it
to large-file storage, the requirements and the front matter fit the hardware, the upload asks the
Hub for the right things, and the app starts and answers from that folder alone."""

import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import gradio
import httpx
import huggingface_hub
import pytest
import yaml
from gradio_client import Client
from packaging.requirements import Requirement

from ddpm import deploy, space
from ddpm.bench.server import serve_app
from tests.test_layout import imports

REPO = Path(__file__).resolve().parent.parent
HF_API = huggingface_hub.HfApi  # the real one, for its signatures (tests put a fake in its place)
BINARIES = {
    "checkpoints/model.safetensors",
    "checkpoints/conditional/model.safetensors",
    "checkpoints/classifier/model.safetensors",
    "ddpm/assets/mnist-train.npz",
    "ddpm/assets/digits.npz",
}


@pytest.fixture(scope="module", params=["cpu", "zero"])
def staged(request, tmp_path_factory) -> tuple[str, Path, list[space.SpaceFile]]:
    """(hardware, the staged folder, its listing) for each hardware."""
    out = tmp_path_factory.mktemp(f"space-{request.param}") / "space"
    return request.param, out, space.stage(out, request.param)


def files_in(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}


def front_matter(readme: str) -> dict:
    return yaml.safe_load(readme.split("---\n")[1])


def test_git_sends_every_binary_file_to_large_file_storage(staged, tmp_path):
    _, out, files = staged
    on_disk = files_in(out)
    binaries = {name for name, path in on_disk.items() if b"\0" in path.read_bytes()[:8000]}
    assert binaries >= BINARIES
    # git's own reading of the Space's .gitattributes (in a scratch repository: the paths need not exist)
    shutil.copy(out / ".gitattributes", tmp_path / ".gitattributes")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    checked = subprocess.run(
        ["git", "check-attr", "filter", "--stdin"], cwd=tmp_path, check=True, capture_output=True, text=True,
        input="\n".join(sorted(on_disk)) + "\n",
    ).stdout  # fmt: skip
    to_lfs = {line.split(": filter: ")[0] for line in checked.splitlines() if line.endswith(": filter: lfs")}
    assert binaries <= to_lfs, sorted(binaries - to_lfs)
    assert not any(name.endswith((".py", ".md", ".txt", ".json", ".js", ".css")) for name in to_lfs)
    # the listing says the same, file by file
    assert {f.path for f in files} == set(on_disk)
    assert {f.path for f in files if f.lfs} == to_lfs and {f.path for f in files if f.needs_lfs} == binaries


def test_a_binary_file_of_another_kind_is_marked_by_its_path():
    text = space.gitattributes(["checkpoints/model.safetensors", "ddpm/assets/table.dat", "weights"])
    patterns = space.lfs_patterns(text)
    assert "ddpm/assets/table.dat" in patterns and "weights" in patterns
    assert "checkpoints/model.safetensors" not in patterns  # *.safetensors covers it
    assert space.matches("ddpm/assets/table.dat", "ddpm/assets/table.dat")
    assert not space.matches("other/table.dat", "ddpm/assets/table.dat")
    assert space.matches("a/b/c.npz", "*.npz") and not space.matches("a/b/c.npz.txt", "*.npz")
    with pytest.raises(ValueError, match="my weights"):
        space.gitattributes(["my weights"])


def test_what_needs_large_file_storage(tmp_path):
    cases = {
        "text.md": "x_t = √ᾱ_t x_0\n".encode(),  # UTF-8 text
        "nul.dat": b"abc\0def",  # git's test: a NUL byte
        "latin.txt": "caf\xe9".encode("latin-1"),  # not UTF-8
        "large.txt": b"0123456789abcdef" * (space.LARGE_BYTES // 16),  # text, but 10 MiB
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert {name for name in cases if space.needs_lfs(tmp_path / name)} == {
        "nul.dat",
        "latin.txt",
        "large.txt",
    }


def test_the_space_holds_the_app_and_leaves_the_rest_behind(staged):
    _, out, files = staged
    names = {f.path for f in files}
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, check=True, capture_output=True, text=True).stdout
    data = {n for n in tracked.split() if n.startswith(("checkpoints/", "ddpm/assets/")) or "/static/" in n}
    assert data and data <= names, sorted(data - names)  # every checkpoint, data file, script and style
    assert {"app.py", "LICENSE", "README.md", "requirements.txt", ".gitattributes"} <= names
    left_out = ("tests/", "docs/", "scripts/", ".ci/", "ddpm/bench/", "pyproject.toml", "requirements-")
    assert not [n for n in names if n.startswith(left_out)]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.endswith((".png", ".jpg", ".gif"))]  # the docs' pictures
    model = "checkpoints/model.safetensors"
    assert (out / model).read_bytes() == (REPO / model).read_bytes()


def imported_ddpm_modules(path: Path, root: Path) -> set[str]:
    """The ``ddpm`` modules a file under ``root`` imports (relative imports resolved)."""
    return {m for m in imports(path, root) if m.split(".")[0] == "ddpm"}


def test_every_ddpm_module_the_staged_code_imports_is_staged(staged):
    _, out, _ = staged
    modules = {
        ".".join(p.relative_to(out).with_suffix("").parts).removesuffix(".__init__")
        for p in (out / "ddpm").rglob("*.py")
    }
    assert "ddpm.views.reverse" in modules and "ddpm.evaluate" not in modules
    sources = [out / "app.py", *(out / "ddpm").rglob("*.py")]
    names = set().union(*(imported_ddpm_modules(p, out) for p in sources))
    # a name imported from a module is a module only when there is a file for it in the repository
    missing = {n for n in names - modules if (REPO / Path(*n.split("."))).with_suffix(".py").is_file()}
    missing |= {n for n in names - modules if (REPO / Path(*n.split(".")) / "__init__.py").is_file()}
    assert not missing, sorted(missing)


def test_the_requirements_fit_the_hardware(staged):
    hardware, out, _ = staged

    def parse(text: str) -> tuple[list[str], dict[str, str]]:
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        options = [line for line in lines if line.startswith("-")]
        wanted = [Requirement(line) for line in lines if not line.startswith("-")]
        return options, {r.name: str(r.specifier) for r in wanted}

    text = (out / "requirements.txt").read_text()
    options, wanted = parse(text)
    assert wanted == parse((REPO / "requirements.txt").read_text())[1]  # the repository's, every range
    assert {"torch", "torchvision", "gradio"} <= wanted.keys()
    if hardware == "cpu":
        assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"]
    else:
        assert options == [] and "download.pytorch.org" not in text


def test_the_front_matter_fits_the_hardware(staged):
    hardware, out, _ = staged
    readme = (out / "README.md").read_text()
    meta, ours = front_matter(readme), front_matter((REPO / "README.md").read_text())
    assert {k: meta[k] for k in ours} == ours  # title, sdk, app_file, ... as the repository says
    assert meta["sdk"] == "gradio" and (out / meta["app_file"]).is_file()
    assert meta["sdk_version"] == gradio.__version__
    assert meta["suggested_hardware"] in {h.value for h in huggingface_hub.SpaceHardware}
    assert isinstance(meta["python_version"], str)  # quoted: YAML reads 3.10 as the number 3.1
    if hardware == "zero":
        # ZeroGPU runs Python 3.10.13 (huggingface.co/docs/hub/spaces-zerogpu)
        assert meta["python_version"].startswith("3.10") and meta["suggested_hardware"].startswith("zero")
    else:
        assert meta["suggested_hardware"] == "cpu-basic"
        assert tuple(map(int, meta["python_version"].split("."))) >= (3, 10)  # pyproject's requires-python
    pictures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)", readme)
    assert all((out / p).is_file() for p in pictures), pictures  # none that stayed behind
    assert "## Deploying on Hugging Face Spaces" in readme  # the body is the repository's


def test_the_dry_run_prints_every_file_and_the_total(tmp_path):
    out = tmp_path / "space"
    run = subprocess.run(
        [sys.executable, "-m", "ddpm.deploy", "--dry-run", "--hardware", "zero", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    on_disk = files_in(out)
    total = sum(path.stat().st_size for path in on_disk.values())
    assert f"{len(on_disk)} files, total {space.format_size(total)} ({total:,} bytes" in run.stdout
    lines = run.stdout.splitlines()
    for name, path in on_disk.items():
        (line,) = [line for line in lines if line.endswith(f"  {name}")]
        assert line.split()[:2] == space.format_size(path.stat().st_size).split()
        assert ("LFS" in line.split()) == (b"\0" in path.read_bytes()[:8000])
    assert "nothing was uploaded" in run.stdout


def test_a_dry_run_never_calls_the_hub(monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("a dry run called the Hub")

    monkeypatch.setattr(huggingface_hub, "HfApi", refuse)
    monkeypatch.setattr(deploy, "upload", refuse)
    deploy.main(["--dry-run", "--space", "me/ddpm", "--hardware", "cpu"])
    assert "dry run: nothing was uploaded" in capsys.readouterr().out


BAD_SPACES = ["ddpm", "me/", "/ddpm", "me/dd/pm", "me/dd pm", "me/-ddpm", "me/dd--pm", "me/ddpm."]


@pytest.mark.parametrize("bad", BAD_SPACES)
def test_a_space_that_is_not_user_slash_name_is_refused(bad, capsys):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        space.check_space_id(bad)
    with pytest.raises(SystemExit) as exit_:
        deploy.main(["--space", bad, "--dry-run"])
    assert exit_.value.code == 2 and f"{bad!r} is not USER/NAME" in capsys.readouterr().err


def test_good_space_names_pass_and_an_upload_needs_one(capsys):
    for good in ("me/ddpm-explorer", "Org_1/ddpm.v2", "a/b"):
        assert space.check_space_id(good) == good
    with pytest.raises(SystemExit):
        deploy.main(["--hardware", "zero"])
    assert "--space USER/NAME is needed" in capsys.readouterr().err


def test_staging_refuses_a_folder_in_use_and_unknown_hardware(tmp_path):
    (tmp_path / "old.txt").write_text("from before")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        space.stage(tmp_path, "cpu")
    with pytest.raises(ValueError, match="'gpu'"):
        space.stage(tmp_path / "new", "gpu")
    with pytest.raises(ValueError, match=r"no app\.py"):
        space.stage(tmp_path / "new", "cpu", root=tmp_path)


def test_the_files_come_from_git_and_without_git_from_the_folder(tmp_path):
    for name in ("app.py", "ddpm/a.py", "ddpm/bench/b.py", "ddpm/train.py", "tests/test_a.py", "docs/x.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    (tmp_path / "ddpm/scratch.py").write_text("untracked\n")
    (tmp_path / "ddpm/__pycache__").mkdir()
    (tmp_path / "ddpm/__pycache__/a.cpython-311.pyc").write_bytes(b"\0junk")
    assert space.app_files(tmp_path) == ["app.py", "ddpm/a.py"]
    shutil.rmtree(tmp_path / ".git")
    assert space.app_files(tmp_path) == ["app.py", "ddpm/a.py", "ddpm/scratch.py"]


class FakeHub:
    """Stands in for ``huggingface_hub.HfApi``: records each call, checked against the real signature."""

    endpoint = "https://hub.example"

    def __init__(self, calls: list, running_on: str, token: str | None = None) -> None:
        self.calls, self.running_on = calls, running_on
        calls.append(("HfApi", (), {"token": token}))

    def _record(self, name: str, *args, **kwargs):
        # the real API takes these arguments
        inspect.signature(getattr(HF_API, name)).bind(None, *args, **kwargs)
        self.calls.append((name, args, kwargs))

    def create_repo(self, *args, **kwargs):
        self._record("create_repo", *args, **kwargs)

    def get_space_runtime(self, *args, **kwargs):
        self._record("get_space_runtime", *args, **kwargs)
        return SimpleNamespace(hardware=self.running_on, requested_hardware=self.running_on)

    def request_space_hardware(self, *args, **kwargs):
        self._record("request_space_hardware", *args, **kwargs)

    def upload_folder(self, *args, **kwargs):
        self._record("upload_folder", *args, **kwargs)


@pytest.mark.parametrize(("hardware", "moved"), [("zero", True), ("cpu", False)])
def test_the_upload_creates_the_space_and_sends_the_folder_as_one_tree(
    tmp_path, monkeypatch, hardware, moved
):
    calls: list = []  # the Space runs on cpu-basic: moved to ZeroGPU, left as it is for a CPU Space
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: FakeHub(calls, "cpu-basic", token))
    url = space.upload(tmp_path, "me/ddpm", hardware, token="hf_secret", private=True)
    assert url == "https://hub.example/spaces/me/ddpm"
    flavor = {"cpu": "cpu-basic", "zero": "zero-a10g"}[hardware]
    by_name = {name: (args, kwargs) for name, args, kwargs in calls}
    assert by_name["HfApi"][1] == {"token": "hf_secret"}
    args, kwargs = by_name["create_repo"]
    assert args == ("me/ddpm",) and kwargs["repo_type"] == "space" and kwargs["space_sdk"] == "gradio"
    assert kwargs["space_hardware"] == flavor and kwargs["exist_ok"] and kwargs["private"] is True
    assert ("request_space_hardware" in by_name) == moved
    if moved:
        assert by_name["request_space_hardware"][0] == ("me/ddpm", flavor)
    _, kwargs = by_name["upload_folder"]
    assert Path(kwargs["folder_path"]) == tmp_path and kwargs["repo_id"] == "me/ddpm"
    assert kwargs["repo_type"] == "space" and kwargs["delete_patterns"] == "*"  # the old tree's strays go
    assert [name for name, *_ in calls][-1] == "upload_folder"


@pytest.mark.slow
def test_the_app_starts_and_answers_from_the_staged_folder_alone(tmp_path, monkeypatch):
    out = tmp_path / "space"
    space.stage(out, "cpu")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    # `python app.py` puts the app's folder first on sys.path: the staged ddpm, not this checkout's
    where = subprocess.run(
        [sys.executable, "-c", "import ddpm; print(ddpm.__file__)"], cwd=out, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(out), where
    with serve_app(out / "app.py", timeout=180, log_dir=tmp_path) as server:
        assert httpx.get(server.url + "/", timeout=30, trust_env=False).status_code == 200
        client = Client(server.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path))
        try:
            # the model, the classifier and the bundled digits (the default digit is a 7)
            *_, text = client.predict(10, 4, 0, api_name="/many_pasts")
            assert "100% are read as your digit's class, 7 (its label)" in text
            assert client.predict("circle", api_name="/plane_data")  # the 2-D world's network
        finally:
            client.close()
