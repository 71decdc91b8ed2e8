import sys

from RMBG.cli import main

sys.exit(main())
