from benchmarks.quality.cli import main

raise SystemExit(main())
