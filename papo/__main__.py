"""`python -m papo` is the `papo` command."""

import sys

from papo.cli import main

sys.exit(main())
