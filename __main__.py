"""`python -m layerprobe COMMAND ...`, the same as the `layerprobe` command."""
import sys

from layerprobe.cli import main

sys.exit(main())
