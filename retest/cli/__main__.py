"""`python -m retest.cli …`, the same as the `retest` console script."""
from retest.cli import console

console()
