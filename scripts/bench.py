#!/usr/bin/env python
"""The benchmark moved to the `benchmarks/` package: `python scripts/bench.py ARGS` is
`python -m benchmarks ARGS` (kept so older commands and notes still work)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
