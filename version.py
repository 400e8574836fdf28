"""The package's version, in a module of its own: the modules that record it (the run's stage keys,
`--version`) import it without importing the package's API."""

__version__ = "0.1.0"
