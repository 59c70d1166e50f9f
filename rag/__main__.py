"""python -m rag -> the CLI."""
import sys

from .cli import main

sys.exit(main())
