#!/usr/bin/env bash
# Create .venv (if missing) and install varinit editable with every backend and the test
# tools, at the exact versions in constraints.txt. Safe to run again: it only adds what
# is missing. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23.2" "setuptools>=69" wheel
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,test,docs]"
# Chromium, for the docs' headless-browser check (tests/test_docs_site.py), from the system's
# packages: only as root with apt-get, only if absent, never fatal; VARINIT_NO_CHROMIUM=1 skips it
if [ -z "${VARINIT_NO_CHROMIUM:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
  && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }; } \
    || echo "chromium not installed: the docs' browser check will skip (see docs/building-docs.md)"
fi
# Triton (the CUDA kernel's tests run it in its interpreter) goes into .triton/, not the venv:
# its LLVM aborts a process that has loaded TensorFlow's. tests/test_isolated.py puts it on the
# path of a pytest process of its own.
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && [ ! -d .triton/triton ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    --target .triton "$(grep '^triton==' constraints.txt | cut -d';' -f1)"
fi
# timm, for the tests that compare varinit.adapters.timm with timm's own weight_init.py (loaded
# by path): without its dependencies, as its torchvision has no wheel for every torch
if ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('timm') is None)"; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    "$(grep '^timm==' constraints.txt)"
fi
# transformers, for the GPT-2 preset's parity test against GPT2Model's own init (tests/test_presets.py)
if ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('transformers') is None)"; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
    "$(grep '^transformers==' constraints.txt)"
fi
# equinox, for init_tree's tests on Equinox modules (tests/test_jax_tree.py)
if ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('equinox') is None)"; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
    "$(grep '^equinox==' constraints.txt)"
fi
.venv/bin/python -c "import varinit, sys; print('varinit', varinit.__version__, 'ready in .venv (Python', sys.version.split()[0] + ')')"
