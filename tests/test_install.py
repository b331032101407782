"""The README's install promises, each checked against what pip and the package metadata really do.

- Every Python snippet's imports are provided by the base dependencies plus the extras that the
  ``pip install`` line of the snippet's section names (the package's own modules are followed to the
  third-party modules they import).
- Every install command names extras that exist, and none names the unpublished ``qwen3-vl-rag`` on PyPI.
- Installing over an older torch keeps it when the README's pin is used: pip's real resolver runs
  (``--dry-run --report``) against an environment that holds torch 2.6.0.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as metadata
import importlib.util
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PACKAGE = "qwen3-vl-rag"
OWN = "qwen3_vl_rag"

# `pip install -e ".[a,b]"` or `pip install "dist/...whl[a]"`: the extras a section's snippets rely on
INSTALL_EXTRAS = re.compile(r"pip install\b[^\n`]*?(?:\.|\.whl)\[([A-Za-z0-9_,\- ]+)\]")


@dataclass(frozen=True)
class Snippet:
    section: str
    extras: frozenset[str]
    code: str


def readme_snippets(text: str) -> list[Snippet]:
    """Each ```python block with its ``## `` section and the extras of that section's latest install line."""
    snippets, section, extras, block = [], "", frozenset(), None
    for line in text.splitlines():
        if block is not None:
            if line.startswith("```"):
                snippets.append(Snippet(section, extras, "\n".join(block)))
                block = None
            else:
                block.append(line)
            continue
        if line.startswith("## "):
            section, extras = line[3:].strip(), frozenset()
        elif line.startswith("```python"):
            block = []
        for match in INSTALL_EXTRAS.finditer(line):
            extras = frozenset(e.strip() for e in match.group(1).split(",") if e.strip())
    return snippets


def _from_import(base: str, names: list[ast.alias]) -> list[str]:
    """``from base import names``: ``base``, and for this package also ``base.name`` (may be a submodule)."""
    own = base == OWN or base.startswith(OWN + ".")
    return [base, *(f"{base}.{alias.name}" for alias in names if own)]


def imported_modules(code: str) -> set[str]:
    """Absolute module names imported anywhere in ``code``."""
    modules = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.update(_from_import(node.module, node.names))
    return modules


@functools.cache
def _own_file(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def third_party_imports(modules: set[str]) -> set[str]:
    """The non-stdlib modules ``modules`` need, following this package's own modules to their imports.

    Imports inside functions and inside ``try/except ImportError`` count: they run when the feature is
    used, and the README promises the feature.
    """
    needed, seen, todo = set(), set(), list(modules)
    while todo:
        module = todo.pop()
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top == "__future__":
            continue
        if top != OWN:
            needed.add(module)
            continue
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # a module runs its parent packages' __init__ first
            name = ".".join(parts[:i])
            file = _own_file(name)
            if name in seen or file is None:
                continue
            seen.add(name)
            tree = ast.parse(file.read_text(encoding="utf-8"))
            package = name if file.name == "__init__.py" else name.rpartition(".")[0]
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    todo.extend(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                        base = ".".join([*anchor, base] if base else anchor)
                    todo.extend(_from_import(base, node.names))
    return needed


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def distributions_of(module: str) -> set[str]:
    """The installed distributions that provide ``module`` (namespace packages resolved by their files)."""
    top = module.split(".")[0]
    candidates = _packages_distributions().get(top, [])
    if len(set(candidates)) <= 1:
        return {canonicalize_name(d) for d in candidates}
    path = module.replace(".", "/")
    owners = set()
    for dist in set(candidates):
        files = metadata.distribution(dist).files or []
        if any(str(f).startswith(path + "/") or str(f) == path + ".py" for f in files):
            owners.add(canonicalize_name(dist))
    return owners


def closure(requirements: list[str], extras: set[str]) -> set[str]:
    """The distributions pip installs for ``requirements`` with ``extras``, followed through installed metadata."""
    covered: set[str] = set()
    todo = [(Requirement(raw), frozenset(extras)) for raw in requirements]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement, active = todo.pop()
        env = {**default_environment(), "extra": ""}
        if requirement.marker and not any(requirement.marker.evaluate({**env, "extra": e})
                                          for e in active | {""}):
            continue
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in done:
            continue
        done.add(key)
        covered.add(name)
        try:
            sub = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo.extend((Requirement(raw), frozenset(requirement.extras)) for raw in sub)
    return covered


def uncovered(snippets: list[Snippet], requirements: list[str]) -> list[str]:
    """One line per snippet import that its section's install command would not bring."""
    problems = []
    for snippet in snippets:
        covered = closure(requirements, set(snippet.extras))
        for module in sorted(third_party_imports(imported_modules(snippet.code))):
            owners = distributions_of(module)
            if not owners:
                problems.append(f"{snippet.section}: no installed distribution provides {module}")
            elif not owners & covered:
                extras = ",".join(sorted(snippet.extras)) or "no extra"
                problems.append(f"{snippet.section}: {module} ({', '.join(sorted(owners))}) "
                                f"is not installed by {PACKAGE}[{extras}]")
    return problems


def _package_requirements() -> list[str]:
    return metadata.requires(PACKAGE) or []


# ---------------------------------------------------------------------------------------------------
# the README's snippets


def test_readme_has_snippets_in_the_framework_sections():
    sections = {s.section: s.extras for s in readme_snippets(README.read_text(encoding="utf-8"))}
    assert sections["LlamaIndex"] == {"llama-index", "stores"}
    assert sections["LangChain"] == {"langchain", "stores"}
    assert sections["Remote backends (vLLM, OpenRouter)"] == {"remote"}
    assert sections["Quickstart"] == frozenset()


def test_every_readme_import_is_installed_by_its_sections_extras():
    snippets = readme_snippets(README.read_text(encoding="utf-8"))
    assert uncovered(snippets, _package_requirements()) == []


def test_the_check_catches_a_missing_extra_dependency():
    """The old ``langchain`` extra (without langchain-classic) fails the README's LangChain snippet."""
    old = [r for r in _package_requirements() if "langchain-classic" not in r]
    langchain = [s for s in readme_snippets(README.read_text(encoding="utf-8")) if s.section == "LangChain"]
    problems = uncovered(langchain, old)
    assert problems and all("langchain_classic" in p for p in problems), problems


def test_own_modules_are_followed_to_their_lazy_imports():
    """``qwen3_vl_rag.core.remote`` needs httpx, imported inside a function: the check sees it.

    (Whether the base dependencies bring httpx anyway depends on the huggingface-hub release: 1.x
    requires it, 2.x does not; so the missing case is shown with a requirement list without it.)
    """
    assert "httpx" in third_party_imports({"qwen3_vl_rag.core.remote"})
    snippet = [Snippet("x", frozenset(), "from qwen3_vl_rag.core.remote import RemoteEmbedder")]
    assert any("httpx" in p for p in uncovered(snippet, ["numpy>=1.26"]))
    assert uncovered([Snippet("x", frozenset({"remote"}), snippet[0].code)], _package_requirements()) == []


# ---------------------------------------------------------------------------------------------------
# the README's install commands


def _declared_extras() -> set[str]:
    return set(metadata.metadata(PACKAGE).get_all("Provides-Extra") or [])


def test_install_commands_name_existing_extras_and_no_unpublished_package():
    text = README.read_text(encoding="utf-8")
    commands = [line for line in text.splitlines() if "pip install" in line]
    named = {e.strip() for line in commands for m in INSTALL_EXTRAS.finditer(line) for e in m.group(1).split(",")}
    assert named and named <= _declared_extras(), named - _declared_extras()
    # the package is not on PyPI: every command installs from a checkout or a built wheel
    assert not [line for line in commands if re.search(r"pip install[^`\n]*['\"]?qwen3-vl-rag\[", line)]
    wheel = re.search(r"dist/(qwen3_vl_rag-[^\[\"]+\.whl)", text)
    assert wheel and wheel.group(1) == f"qwen3_vl_rag-{metadata.version(PACKAGE)}-py3-none-any.whl"


def test_gpu_extra_installs_without_a_build_step():
    """flash-attn needs torch at build time (``--no-build-isolation``), which an extra cannot ask for: the
    README's GPU recipe installs it; the extra holds only what installs from a wheel."""
    gpu = [r for r in metadata.requires(PACKAGE) or [] if 'extra == "gpu"' in r]
    assert gpu and not [r for r in gpu if "flash" in r]
    text = README.read_text(encoding="utf-8")
    recipe = text[text.index("### GPU"):]
    torch_at, flash_at, package_at = (recipe.index("pip install torch"),
                                      recipe.index("pip install flash-attn --no-build-isolation"),
                                      recipe.index('pip install -e ".[gpu'))
    assert torch_at < flash_at < package_at


# ---------------------------------------------------------------------------------------------------
# installing over an older torch (pip's resolver, dry run)

OLD_TORCH, OLD_TORCHVISION = "2.6.0", "0.21.0"  # a released pair; the declared lower bounds


def _pip(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True)
    return next(out.glob("qwen3_vl_rag-*.whl"))


@pytest.fixture(scope="module")
def env_with_old_torch(tmp_path_factory) -> Path:
    """A virtual environment (no pip, nothing else) whose only distribution is torch 2.6.0.

    The distribution is its metadata alone: pip's resolver sees an installed torch 2.6.0 exactly as it
    sees a real one, but nothing here can run it. Installing a real 2.6.0 (~900 MB) is not needed to
    ask the resolver what it would do.
    """
    listing = _pip("index", "versions", "torchvision", timeout=60)
    if listing.returncode != 0 or OLD_TORCHVISION not in listing.stdout:
        pytest.skip(f"the package index is unreachable or lacks torchvision {OLD_TORCHVISION}: "
                    f"{(listing.stderr or listing.stdout).strip()[-300:]}")
    venv = tmp_path_factory.mktemp("old-torch") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    info = site / f"torch-{OLD_TORCH}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {OLD_TORCH}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")
    return python


def _dry_run(python: Path, wheel: Path, report: Path, *extra: str) -> dict[str, str]:
    """What ``pip install WHEEL`` would install into ``python``'s environment: {name: version}."""
    result = _pip("--python", str(python), "install", "--dry-run", "--quiet", "--report", str(report),
                  *extra, str(wheel), timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(report.read_text())
    return {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in data["install"]}


def test_install_over_an_older_torch_keeps_it_with_the_readme_pin(env_with_old_torch, wheel, tmp_path):
    """The README's recipe: the doctor writes the pin from the environment, pip installs with ``-c``.

    Without the pin pip replaces the installed torch (torchvision has no upper bound tied to torch, so
    pip takes the newest torchvision and the torch it requires): that is checked too, so this test
    notices if the fake installed torch stopped being seen (then neither run would list torch).
    """
    doctor = ROOT / "qwen3_vl_rag" / "doctor.py"  # run as a file by the environment's own python
    pins = subprocess.run([str(env_with_old_torch), str(doctor), "--constraints"], check=True,
                          capture_output=True, text=True).stdout
    assert pins.split() == [f"torch=={OLD_TORCH}"]
    pin_file = tmp_path / "torch-pin.txt"
    pin_file.write_text(pins)

    with ThreadPoolExecutor(2) as pool:  # both at once: each spends most of its time waiting on the index
        pinned = pool.submit(_dry_run, env_with_old_torch, wheel, tmp_path / "pinned.json", "-c", str(pin_file))
        bare = pool.submit(_dry_run, env_with_old_torch, wheel, tmp_path / "bare.json")
        pinned_plan, bare_plan = pinned.result(), bare.result()

    assert "torch" not in pinned_plan, f"pip would replace torch {OLD_TORCH} by {pinned_plan.get('torch')}"
    assert pinned_plan["torchvision"] == OLD_TORCHVISION  # the torchvision built for the kept torch
    assert "transformers" in pinned_plan and "qwen3-vl-rag" in pinned_plan
    assert bare_plan.get("torch", OLD_TORCH) != OLD_TORCH, bare_plan  # the problem the pin prevents


# ---------------------------------------------------------------------------------------------------
# the transformers range CI tests


def test_ci_tests_the_declared_lower_transformers_bound():
    """CI's second environment installs ``transformers==<lower bound>`` read from pyproject.toml by
    scripts/lowest_transformers.py; the main one resolves the newest release under the cap."""
    declared = next(Requirement(r) for r in _package_requirements() if Requirement(r).name == "transformers")
    lower = [s.version for s in declared.specifier if s.operator == ">="]
    assert len(lower) == 1 and [s for s in declared.specifier if s.operator == "<"], declared
    printed = subprocess.run([sys.executable, str(ROOT / "scripts" / "lowest_transformers.py")], check=True,
                             capture_output=True, text=True).stdout.strip()
    assert printed == lower[0]
    text = README.read_text(encoding="utf-8")
    block = text[text.index("<!-- ci:install-lowest -->"):].split("```")[1]
    assert '"transformers==$(python scripts/lowest_transformers.py)"' in block
    assert "install-lowest" in (ROOT / ".ci" / "run").read_text()
    assert metadata.version("transformers") in declared.specifier  # this environment is inside the range


def test_lowest_transformers_script_refuses_a_range_without_lower_bound():
    spec = importlib.util.spec_from_file_location("lowest", ROOT / "scripts" / "lowest_transformers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.lowest('dependencies = [\n    "torch>=2.6",\n    "transformers>=5.3,<5.25",\n]\n') == "5.3"
    with pytest.raises(ValueError, match="no >= lower bound"):
        module.lowest('dependencies = [\n    "transformers<6",\n]\n')
