import sys

from photobird.cli import main

sys.exit(main())
