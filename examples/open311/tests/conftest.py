"""Make the test server importable as `open311_server` whichever directory pytest runs from."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
