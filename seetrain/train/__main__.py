"""``python -m seetrain.train [CONFIG.yaml] [key=value ...]``: the same as ``seetrain train``."""

import sys

from .commands import train_main

if __name__ == "__main__":
    sys.exit(train_main(prog="python -m seetrain.train"))
