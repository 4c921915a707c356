from phone_tui.cli import main

raise SystemExit(main())
