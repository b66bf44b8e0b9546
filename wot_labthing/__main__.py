"""``python -m wot_labthing`` runs the command line."""

import sys

from ._cli import main

sys.exit(main())
