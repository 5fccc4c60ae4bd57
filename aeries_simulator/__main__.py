"""Entry point: python -m aeries_simulator."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
