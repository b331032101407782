"""The install and snippet promises of README.md and docs/, each checked against what pip, the package
metadata and the code really do.

- Every Python snippet's imports are provided by the base dependencies plus the extras that the
  ``pip install`` line of its README section (or of its docs page) names (the package's own modules are
  followed to the third-party modules they import).
- Every Python snippet runs as written, on tiny random models (hub ids replaced by tiny checkpoints, the
  files it names created), except those marked ``<!-- snippet: no-run (reason) -->``.
- Every install command names extras that exist, and none names the unpublished ``qwen3-vl-rag`` on PyPI.
- Installing over an older torch keeps it when the docs' pin is used: pip's real resolver runs
  (``--dry-run --report``) against an environment that holds torch 2.6.0.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PACKAGE = "qwen3-vl-rag"
OWN = "qwen3_vl_rag"

# `pip install -e ".[a,b]"` or `pip install "dist/...whl[a]"`: the extras a section's snippets rely on
INSTALL_EXTRAS = re.compile(r"pip install\b[^\n`]*?(?:\.|\.whl)\[([A-Za-z0-9_,\- ]+)\]")
NO_RUN = re.compile(r"<!-- snippet: no-run \((.+)\) -->")


@dataclass(frozen=True)
class Snippet:
    section: str
    extras: frozenset[str]
    code: str
    no_run: str | None = None  # why it cannot run here (a server, a key, a GPU, a cluster)


def readme_snippets(text: str, page: str | None = None) -> list[Snippet]:
    """Each ```python block with its section and the extras of the latest install line in scope.

    In the README the scope is a ``## `` section; in a docs page (``page`` given) it is the whole page, whose
    install line stands near its top. A block right after ``<!-- snippet: no-run (reason) -->`` is not run.
    """
    snippets, section, extras, block, no_run = [], page or "", frozenset(), None, None
    for line in text.splitlines():
        if block is not None:
            if line.startswith("```"):
                snippets.append(Snippet(section, extras, "\n".join(block), no_run))
                block, no_run = None, None
            else:
                block.append(line)
            continue
        if line.startswith("## "):
            section = f"{page}: {line[3:].strip()}" if page else line[3:].strip()
            if page is None:
                extras = frozenset()
        elif line.startswith("```python"):
            block = []
            continue
        marker = NO_RUN.fullmatch(line.strip())
        if marker:
            no_run = marker.group(1)
        elif line.strip() and not line.startswith("```"):
            no_run = None  # the marker applies to the block right after it
        for match in INSTALL_EXTRAS.finditer(line):
            extras = frozenset(e.strip() for e in match.group(1).split(",") if e.strip())
    return snippets


def docs_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def all_snippets() -> list[Snippet]:
    """The README's snippets, then each docs page's."""
    snippets = readme_snippets(README.read_text(encoding="utf-8"))
    for page in docs_pages():
        snippets += readme_snippets(page.read_text(encoding="utf-8"), page=f"docs/{page.name}")
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


# Modules the core imports lazily for one opt-in input type only, with the text that marks a snippet using it:
# a snippet needs them (and their extra) only when it gives such an input.
OPT_IN = {"pypdfium2": ".pdf"}


def uncovered(snippets: list[Snippet], requirements: list[str]) -> list[str]:
    """One line per snippet import that its section's install command would not bring."""
    problems = []
    for snippet in snippets:
        covered = closure(requirements, set(snippet.extras))
        for module in sorted(third_party_imports(imported_modules(snippet.code))):
            marker = OPT_IN.get(module.split(".")[0])
            if marker is not None and marker not in snippet.code:
                continue
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
# the snippets' imports


def test_snippets_carry_the_extras_of_their_section_or_page():
    sections = {s.section: s.extras for s in all_snippets()}
    assert sections["Quickstart: core"] == frozenset()
    assert sections["Quickstart: LlamaIndex"] == {"llama-index", "stores"}
    assert sections["Quickstart: LangChain"] == {"langchain", "stores"}
    assert sections["docs/frameworks.md: LlamaIndex"] == {"llama-index", "langchain", "stores"}
    assert sections["docs/remote.md: Fallback and vector spaces"] == {"remote"}
    assert {s.section.split(":")[0] for s in all_snippets() if s.section.startswith("docs/")} >= {
        "docs/models.md", "docs/engine.md", "docs/remote.md", "docs/frameworks.md", "docs/chunking.md",
        "docs/retrieval.md", "docs/bulk.md", "docs/testing.md"}


def test_no_run_markers_say_why_and_stay_few():
    skipped = [s for s in all_snippets() if s.no_run]
    assert all(len(s.no_run) > 10 for s in skipped), skipped
    assert 0 < len(skipped) <= 3, [s.section for s in skipped]


def test_every_snippet_import_is_installed_by_its_sections_extras():
    assert uncovered(all_snippets(), _package_requirements()) == []


def test_the_check_catches_a_missing_extra_dependency():
    """The old ``langchain`` extra (without langchain-classic) fails the README's LangChain snippet."""
    old = [r for r in _package_requirements() if "langchain-classic" not in r]
    langchain = [s for s in all_snippets() if s.section == "Quickstart: LangChain"]
    problems = uncovered(langchain, old)
    assert problems and all("langchain_classic" in p for p in problems), problems


def test_own_modules_are_followed_to_their_lazy_imports():
    """``qwen3_vl_rag.core.remote`` needs httpx, imported inside a function: the check sees it.

    (Whether the base dependencies bring httpx anyway depends on the huggingface-hub release: 1.x
    requires it, 2.x does not; so the missing case is shown with a requirement list without it.)
    """
    assert "httpx" in third_party_imports({"qwen3_vl_rag.core.remote"})
    code = 'from qwen3_vl_rag.core import Qwen3VLEmbedder\nQwen3VLEmbedder("m").embed(["r.pdf"])'
    pdf = [Snippet("x", frozenset(), code)]
    assert any("pypdfium2" in p for p in uncovered(pdf, _package_requirements()))  # an opt-in input needs its extra
    snippet = [Snippet("x", frozenset(), "from qwen3_vl_rag.core.remote import RemoteEmbedder")]
    assert any("httpx" in p for p in uncovered(snippet, ["numpy>=1.26"]))
    assert uncovered([Snippet("x", frozenset({"remote"}), snippet[0].code)], _package_requirements()) == []


# ---------------------------------------------------------------------------------------------------
# the install commands of the README and docs/


def _declared_extras() -> set[str]:
    return set(metadata.metadata(PACKAGE).get_all("Provides-Extra") or [])


def _texts() -> dict[str, str]:
    return {"README.md": README.read_text(encoding="utf-8"),
            **{f"docs/{p.name}": p.read_text(encoding="utf-8") for p in docs_pages()}}


def test_install_commands_name_existing_extras_and_no_unpublished_package():
    commands = [line for text in _texts().values() for line in text.splitlines() if "pip install" in line]
    named = {e.strip() for line in commands for m in INSTALL_EXTRAS.finditer(line) for e in m.group(1).split(",")}
    assert named and named <= _declared_extras(), named - _declared_extras()
    # the package is not on PyPI: every command installs from a checkout or a built wheel
    assert not [line for line in commands if re.search(r"pip install[^`\n]*['\"]?qwen3-vl-rag\[", line)]
    for name, text in _texts().items():
        for wheel in re.findall(r"dist/(qwen3_vl_rag-[^\[\"]+\.whl)", text):
            assert wheel == f"qwen3_vl_rag-{metadata.version(PACKAGE)}-py3-none-any.whl", name
    assert "dist/qwen3_vl_rag-" in _texts()["README.md"]


def test_the_torch_pin_is_written_before_it_is_used():
    """Every page that installs with ``-c torch-pin.txt`` writes the file first (with the doctor)."""
    for name, text in _texts().items():
        if "-c torch-pin.txt" in text:
            written = text.find("--constraints > torch-pin.txt")
            assert 0 <= written < text.index("-c torch-pin.txt"), name


def test_gpu_extra_installs_without_a_build_step():
    """flash-attn needs torch at build time (``--no-build-isolation``), which an extra cannot ask for: the
    docs' GPU recipe installs it; the extra holds only what installs from a wheel."""
    gpu = [r for r in metadata.requires(PACKAGE) or [] if 'extra == "gpu"' in r]
    assert gpu and not [r for r in gpu if "flash" in r]
    text = (DOCS / "install.md").read_text(encoding="utf-8")
    recipe = text[text.index("## GPU"):]
    torch_at, flash_at, pin_at, package_at = (recipe.index("pip install torch"),
                                              recipe.index("pip install flash-attn --no-build-isolation"),
                                              recipe.index("--constraints > torch-pin.txt"),
                                              recipe.index('pip install -e ".[gpu'))
    assert torch_at < flash_at < pin_at < package_at


def test_dev_extra_holds_every_other_extra():
    """The README says ``dev`` holds every extra (``gpu``'s accelerate included): it must stay true."""
    dev = [Requirement(r) for r in metadata.requires(PACKAGE) or [] if 'extra == "dev"' in r]
    self_extras = {e for r in dev if canonicalize_name(r.name) == PACKAGE for e in r.extras}
    names = {canonicalize_name(r.name) for r in dev}
    assert self_extras | {"dev"} == _declared_extras(), _declared_extras() - self_extras
    assert "mkdocs" in names


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
    """CI steps its environment down to ``transformers==<lower bound>``, read from pyproject.toml by
    scripts/lowest_transformers.py, after the suite ran on the newest release under the cap."""
    declared = next(Requirement(r) for r in _package_requirements() if Requirement(r).name == "transformers")
    lower = [s.version for s in declared.specifier if s.operator == ">="]
    assert len(lower) == 1 and [s for s in declared.specifier if s.operator == "<"], declared
    printed = subprocess.run([sys.executable, str(ROOT / "scripts" / "lowest_transformers.py")], check=True,
                             capture_output=True, text=True).stdout.strip()
    assert printed == lower[0]
    text = README.read_text(encoding="utf-8")
    block = text[text.index("<!-- ci:install-lowest -->"):].split("```")[1]
    assert '"transformers==$(python scripts/lowest_transformers.py)"' in block
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_block install-lowest" in ci and "readme_block test-lowest" in ci
    assert metadata.version("transformers") in declared.specifier  # this environment is inside the range


def test_lowest_transformers_script_refuses_a_range_without_lower_bound():
    spec = importlib.util.spec_from_file_location("lowest", ROOT / "scripts" / "lowest_transformers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.lowest('dependencies = [\n    "torch>=2.6",\n    "transformers>=5.3,<5.25",\n]\n') == "5.3"
    with pytest.raises(ValueError, match="no >= lower bound"):
        module.lowest('dependencies = [\n    "transformers<6",\n]\n')


def test_ci_lowest_run_names_existing_test_paths():
    """The lowest-transformers run (README ``ci:test-lowest``) names test paths that exist, and fewer than all."""
    text = README.read_text(encoding="utf-8")
    command = text[text.index("<!-- ci:test-lowest -->"):].split("```")[1].split("\n", 1)[1].strip()
    paths = [arg for arg in command.split() if arg.startswith("tests/")]
    assert paths and all((ROOT / p).exists() for p in paths), [p for p in paths if not (ROOT / p).exists()]
    assert "tests/core/engine" in paths and "tests/benchmarks" not in paths


# ---------------------------------------------------------------------------------------------------
# the snippets run as written, on tiny models

# hub ids in snippets -> which tiny checkpoint stands in for them (the remote OpenRouter id is lower case)
HUB_IDS = ((re.compile(r"Qwen/Qwen3-VL-(?:Embedding|Reranker)-\w+"), "vl"),
           (re.compile(r"Qwen/Qwen3-(?:Embedding|Reranker)-[\w.]+"), "text"))
# Matryoshka sizes above the tiny models' width (64) are cut to 32: the call still truncates and renormalises
DIMENSIONS = re.compile(r"(dimensions\"?\s*[=:]\s*)\d+")
NAMED_FILE = re.compile(r"[\w./-]+\.(png|jpe?g|mp4|txt|md|pdf)")
SAMPLE_TEXT = """# Report

## Revenue

Revenue grew by twelve percent in the third quarter. Most of the growth came from the northern region.
The southern region stayed flat.

## Outlook

The mountains above the valley glow at sunrise. Hikers leave before dawn to see it.
Solar panels turn sunlight into electricity; the new plant opens next year.
"""

# Runs each snippet in a fresh namespace, in its own working directory; one JSON line per snippet.
DRIVER = textwrap.dedent('''
    import json, os, sys, time, traceback
    spec = json.load(open(sys.argv[1]))
    with open(spec["results"], "a") as out:
        for program in spec["programs"]:
            os.chdir(program["dir"])
            start = time.perf_counter(), time.process_time()
            try:
                exec(compile(program["code"], program["name"], "exec"), {"__name__": "__snippet__"})
                result = {"name": program["name"], "ok": True}
            except BaseException:  # SystemExit included: a snippet never ends the run
                result = {"name": program["name"], "ok": False, "error": traceback.format_exc()[-3000:]}
            result["seconds"] = [round(time.perf_counter() - start[0], 2), round(time.process_time() - start[1], 2)]
            out.write(json.dumps(result) + "\\n")
            out.flush()
''')


def _write_named_files(code: str, folder: Path) -> None:
    """Create every relative file a snippet names: random images, a short video, a small text, a PDF."""
    import numpy as np
    from PIL import Image

    names = {node.value for node in ast.walk(ast.parse(code))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAMED_FILE.fullmatch(node.value)}
    for name in sorted(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower()
        if suffix in (".txt", ".md"):
            path.write_text(SAMPLE_TEXT, encoding="utf-8")
        elif suffix == ".pdf":
            from qwen3_vl_rag.sample_pdfs import report_pdf

            path.write_bytes(report_pdf("Quarterly report", pages=2))
        elif suffix == ".mp4":
            import av

            with av.open(str(path), mode="w") as container:
                stream = container.add_stream("mpeg4", rate=2)
                stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
                for i in range(4):
                    pixels = np.random.RandomState(i).randint(0, 256, (64, 64, 3), dtype=np.uint8)
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
                container.mux(stream.encode())
        else:
            pixels = np.random.RandomState(len(name)).randint(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path)


def _runnable(snippets: list[Snippet]) -> list[tuple[str, Snippet]]:
    named, seen = [], {}
    for snippet in snippets:
        if snippet.no_run is None:
            seen[snippet.section] = seen.get(snippet.section, 0) + 1
            named.append((f"{snippet.section} #{seen[snippet.section]}", snippet))
    return named


RUNNABLE = _runnable(all_snippets())


@pytest.fixture(scope="module")
def snippet_results(tmp_path_factory, tiny_vl_path, tiny_text_path) -> dict[str, dict]:
    """Every runnable snippet, run once in one subprocess (imports and tiny models shared by all)."""
    root = tmp_path_factory.mktemp("snippets")
    tiny = {"vl": str(tiny_vl_path), "text": str(tiny_text_path)}
    programs = []
    for i, (name, snippet) in enumerate(RUNNABLE):
        code = snippet.code
        for pattern, kind in HUB_IDS:
            code = pattern.sub(tiny[kind], code)
        code = DIMENSIONS.sub(r"\g<1>32", code)
        folder = root / f"s{i}"
        folder.mkdir()
        _write_named_files(code, folder)
        programs.append({"name": name, "code": code, "dir": str(folder)})
    spec, results = root / "spec.json", root / "results.jsonl"
    spec.write_text(json.dumps({"programs": programs, "results": str(results)}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "ANONYMIZED_TELEMETRY": "False"}
    try:
        done = subprocess.run([sys.executable, "-c", DRIVER, str(spec)], capture_output=True, text=True, env=env,
                              timeout=600)
        crash = done.stderr[-2000:] if done.returncode else ""
    except subprocess.TimeoutExpired:
        crash = "the snippet run timed out after 600 s"
    ran = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    return {"crash": crash, **{r["name"]: r for r in ran}}


@pytest.mark.xdist_group("snippets")  # pytest -n: one worker runs the snippets (their fixture runs them all)
@pytest.mark.parametrize("name", [name for name, _ in RUNNABLE])
def test_snippet_runs_on_tiny_models(name, snippet_results):
    result = snippet_results.get(name)
    assert result is not None, f"{name} did not run: {snippet_results['crash']}"
    assert result["ok"], result["error"]


def test_snippet_run_catches_a_broken_snippet(tmp_path):
    """The driver reports a snippet that raises (here: a name it never defines) instead of passing it."""
    spec, results = tmp_path / "spec.json", tmp_path / "results.jsonl"
    spec.write_text(json.dumps({"results": str(results), "programs": [
        {"name": "good", "code": "x = 1", "dir": str(tmp_path)},
        {"name": "bad", "code": "embedder.embed(['x'])", "dir": str(tmp_path)}]}))
    subprocess.run([sys.executable, "-c", DRIVER, str(spec)], check=True, timeout=60)
    ran = {r["name"]: r for r in map(json.loads, results.read_text().splitlines())}
    assert ran["good"]["ok"] and not ran["bad"]["ok"] and "NameError" in ran["bad"]["error"]
