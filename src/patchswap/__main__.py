"""`python -m patchswap` (and `torchrun -m patchswap`) run the CLI."""

from .cli import main

raise SystemExit(main())
