#!/usr/bin/env bash
# Build the documentation site into site/ (or the folder given as $1), strictly: a warning such
# as a broken link fails the build. Needs the docs extra: pip install -e '.[docs]' (scripts/setup.sh
# installs it). Usage: bash scripts/docs.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
OUT=${1:-site}
# Material prints a banner about its successor on every build; the build's own output is enough
export NO_MKDOCS_2_WARNING=1
"$PY" -m mkdocs build --strict --clean --site-dir "$OUT"
echo "built the site in $OUT/ (open $OUT/index.html, or: $PY -m http.server -d $OUT)"
