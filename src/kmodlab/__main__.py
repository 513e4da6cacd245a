from kmodlab.cli import main

raise SystemExit(main())
