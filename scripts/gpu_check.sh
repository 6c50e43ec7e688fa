#!/usr/bin/env bash
# The GPU path in one table (scripts/gpu_check.py); under 8 minutes on one GPU.
# Extra arguments pass through, e.g.  scripts/gpu_check.sh --device cpu --quick
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../.venv/bin/python}"
[ -x "$python" ] || python=python3
exec timeout 480 "$python" "$here/gpu_check.py" "$@"
