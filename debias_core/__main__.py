from debias_core.cli import main

raise SystemExit(main())
