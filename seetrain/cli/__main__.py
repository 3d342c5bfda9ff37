"""``python -m seetrain.cli``."""

import sys

from . import main

sys.exit(main())
