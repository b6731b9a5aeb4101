"""``python -m ecgnb``: the same command as ``ecgnb``."""

from ecgnb.cli import main

raise SystemExit(main())
