import sys

from ragdiplo.cli.main import main

sys.exit(main())
