"""``python -m simulator`` runs the trainsim command line."""

import sys

from simulator.cli import main

sys.exit(main())
