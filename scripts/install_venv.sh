#!/usr/bin/env bash
# Creates the virtual environment VENV (when missing) and installs stylexfer into it, editable:
#   scripts/install_venv.sh VENV [EXTRAS]       EXTRAS: "" (the runtime set: demo, train, stylize,
#                                               report, GUI) or "dev" (tests, lint, every extra)
# PyTorch: TORCH=cpu takes its CPU-only wheels (no CUDA libraries: a far smaller .venv), TORCH=default
# the default wheels, TORCH=auto (the default) the CPU wheels when no NVIDIA GPU is present
# (`nvidia-smi` absent). When the CPU index cannot be reached within a few seconds, one line says so
# and the default wheels are installed instead. DRY_RUN=1 prints the pip commands instead of running them.
set -euo pipefail
VENV=${1:?usage: scripts/install_venv.sh VENV [EXTRAS]}
EXTRAS=${2:-}
PYTHON=${PYTHON:-python3}
TORCH=${TORCH:-auto}
CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
PROBE_SECONDS=${PROBE_SECONDS:-5}

run() { if [ "${DRY_RUN:-}" = 1 ]; then echo "$*"; else "$@"; fi; }

case "$TORCH" in
  auto) if command -v nvidia-smi >/dev/null 2>&1; then want_cpu=0; else want_cpu=1; fi ;;
  cpu) want_cpu=1 ;;
  default | "") want_cpu=0 ;;
  *) echo "install: TORCH must be auto, cpu or default, got '$TORCH'" >&2; exit 2 ;;
esac

if [ ! -x "$VENV/bin/python" ]; then
  run "$PYTHON" -m venv "$VENV"
  run "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
PY="$VENV/bin/python"
PROBE_PY="$PY"
[ -x "$PROBE_PY" ] || PROBE_PY="$PYTHON"  # a dry run makes no venv

if [ "$want_cpu" = 1 ]; then
  # A short probe first: pip itself would retry an unreachable index for minutes.
  if reason=$("$PROBE_PY" - "$CPU_INDEX" "$PROBE_SECONDS" <<'EOF' 2>&1
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=float(sys.argv[2])).close()
except Exception as err:
    print(str(getattr(err, "reason", "") or err).splitlines()[0] or type(err).__name__)
    sys.exit(1)
EOF
  ); then
    echo "== PyTorch: the CPU-only wheels from $CPU_INDEX (no NVIDIA GPU here; TORCH=default for the CUDA wheels)"
    run "$PY" -m pip install --progress-bar on --index-url "$CPU_INDEX" torch torchvision
  else
    echo "== PyTorch: $CPU_INDEX cannot be reached ($reason); installing the default wheels (with CUDA libraries, larger)"
  fi
fi

target="."
[ -n "$EXTRAS" ] && target=".[$EXTRAS]"
echo "== installing stylexfer${EXTRAS:+ with its $EXTRAS extra} into $VENV (pip shows its progress)"
run "$PY" -m pip install --progress-bar on -e "$target"
if [ "${DRY_RUN:-}" != 1 ]; then
  echo "== installed: $(du -sh "$VENV" | cut -f1) in $VENV; activate it with: source $VENV/bin/activate"
fi
