"""``python -m flows.cli``: the commands in this process (no fork server, no prespawned workers)."""

import sys

from flows.cli.commands import main

sys.exit(main())
