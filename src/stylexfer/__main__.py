import sys

from stylexfer.cli import main

sys.exit(main())
