"""The wheel holds every subpackage (an unlisted one is silently missing there while editable tests pass)
and py.typed; the sdist holds the tests, examples, benchmarks and scripts, and runs its tests."""

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = {"qwen3_vl_rag": ROOT / "qwen3_vl_rag", "qwen3_vl_rag.core": ROOT / "core",
                "qwen3_vl_rag.integrations": ROOT / "integrations"}


def _source_modules() -> set[str]:
    modules = set()
    for package, folder in SOURCE_ROOTS.items():
        for file in folder.rglob("*.py"):
            if "__pycache__" in file.parts:
                continue
            parts = file.relative_to(folder).with_suffix("").parts
            modules.add(".".join((package, *parts)).removesuffix(".__init__"))
    return modules


def test_wheel_contains_and_imports_every_module(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("qwen3_vl_rag-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
        in_wheel = {name[:-3].replace("/", ".").removesuffix(".__init__")
                    for name in archive.namelist() if name.endswith(".py")}
    expected = _source_modules()
    assert expected <= in_wheel, f"missing from the wheel: {sorted(expected - in_wheel)}"
    importable = sorted(m for m in expected if ".integrations." not in m)  # adapters need their extras
    script = (
        "import importlib, sys; import qwen3_vl_rag;"
        f"assert qwen3_vl_rag.__file__.startswith({str(tmp_path / 'site')!r}), qwen3_vl_rag.__file__;"
        f"[importlib.import_module(m) for m in {importable!r}]"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path,
                   env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})


# Everything the sdist must carry so that the test suite, the examples and the benchmarks run from it.
SDIST_TREES = ("tests", "examples", "benchmarks", "scripts", "docs")
SDIST_FILES = ("LICENSE", "README.md", "CHANGELOG.md", "mkdocs.yml", "pyproject.toml", "MANIFEST.in", ".ci/run",
               "qwen3_vl_rag/py.typed")


def _tracked_tree_files(tree: str) -> set[str]:
    """Files under ``tree`` as the sdist should hold them: no caches, no benchmark temp files."""
    files = set()
    for file in (ROOT / tree).rglob("*"):
        relative = file.relative_to(ROOT)
        if file.is_file() and not {"__pycache__", ".pytest_cache", ".hypothesis"} & set(relative.parts) \
                and file.suffix not in {".pyc", ".tmp"}:
            files.add(relative.as_posix())
    return files


def test_sdist_carries_tests_examples_and_license_and_runs_a_test_module(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    sdist = next(tmp_path.glob("qwen3_vl_rag-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "src", filter="data")
    top = next((tmp_path / "src").iterdir())
    in_sdist = {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}
    expected = {f for tree in SDIST_TREES for f in _tracked_tree_files(tree)} | set(SDIST_FILES)
    assert expected <= in_sdist, f"missing from the sdist: {sorted(expected - in_sdist)}"
    assert (top / "LICENSE").read_text().startswith((ROOT / "LICENSE").read_text()[:200])
    # the unpacked sdist runs its own test files (a quick, model-free module) with its own conftest and
    # pytest configuration; the package under test is the installed one
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/core/chunking/test_chunking_breakpoints.py"], cwd=top, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1], run.stdout[-2000:]


def test_wheel_marks_the_package_typed_for_mypy(tmp_path):
    """With py.typed in the wheel, mypy reads the installed package's annotations (without it, mypy
    reports "missing library stubs or py.typed marker" and treats every import as Any)."""
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    with zipfile.ZipFile(next(tmp_path.glob("qwen3_vl_rag-*.whl"))) as archive:
        assert "qwen3_vl_rag/py.typed" in archive.namelist()
        archive.extractall(site)
    client = tmp_path / "client.py"
    client.write_text("from qwen3_vl_rag.core.errors import InputError\n\nwrong: int = InputError(0, 'x')\n")
    result = subprocess.run([sys.executable, "-m", "mypy", "--python-executable", str(python), "--no-incremental",
                             "--follow-imports=silent", str(client)], capture_output=True, text=True, cwd=tmp_path)
    assert "py.typed" not in result.stdout, result.stdout
    assert 'expression has type "InputError", variable has type "int"' in result.stdout, result.stdout
