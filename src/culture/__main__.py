import sys

from culture.cli import main

sys.exit(main())
