"""The wheel holds every subpackage: an unlisted one is silently missing there while editable tests pass."""

import subprocess
import sys
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
