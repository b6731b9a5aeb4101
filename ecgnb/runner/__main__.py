"""``python -m ecgnb.runner``: the same command as ``ecgnb``."""

from ecgnb.runner.cli import main

raise SystemExit(main())
