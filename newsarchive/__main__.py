from newsarchive.commands import main

raise SystemExit(main())
