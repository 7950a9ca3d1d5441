"""`python -m acme_server.cli`: the same as the `acme-server` console script."""

import sys

from acme_server.cli import main

sys.exit(main())
