"""``python -m wot_labthing._cli.client``: the client subcommands on their own."""

import sys

from .standalone import main

sys.exit(main())
