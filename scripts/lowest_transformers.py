"""Print the lowest transformers version that pyproject.toml allows (its ``>=`` bound), e.g. ``5.0``.

CI's second environment installs ``transformers==$(python scripts/lowest_transformers.py)`` (README
``ci:install-lowest``; docs/install.md "Supported transformers versions"), so the tested lower bound is the
declared one. Standard library only (and no tomllib, so it runs on Python 3.10 before anything is installed).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def lowest(pyproject_text: str) -> str:
    """The ``>=`` bound of the ``transformers`` requirement in the ``dependencies`` list."""
    deps = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", pyproject_text, re.S | re.M)
    if deps is None:
        raise ValueError("pyproject.toml has no dependencies list")
    found = re.findall(r"""["']transformers\s*([^"']*)["']""", deps.group(1))
    if len(found) != 1:
        raise ValueError(f"expected one transformers requirement in dependencies, found {found}")
    bound = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", found[0])
    if bound is None:
        raise ValueError(f"the transformers requirement {found[0]!r} has no >= lower bound")
    return bound.group(1)


if __name__ == "__main__":
    try:
        print(lowest(PYPROJECT.read_text(encoding="utf-8")))
    except ValueError as exc:
        sys.exit(f"lowest_transformers: {exc}")
