from coe.cli import main

raise SystemExit(main())
