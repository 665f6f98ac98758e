"""`python -m verbatim.cli` runs the `verbatim` command."""

from verbatim.cli.main import main

raise SystemExit(main())
