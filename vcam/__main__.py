import sys

from vcam.app import main

sys.exit(main())
