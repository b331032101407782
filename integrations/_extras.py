"""The one check that a framework extra is installed, run first by each adapter package."""

from __future__ import annotations

import importlib.util


def require(package: str, modules: tuple[str, ...], extra: str) -> None:
    """Raise ``ImportError`` naming the extra to install when one of ``modules`` cannot be imported."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module set to None
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise ImportError(f"qwen3_vl_rag.integrations.{package} needs {', '.join(missing)}: "
                          f'pip install "qwen3-vl-rag[{extra}]"')
