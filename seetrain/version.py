"""The package version (ground floor: importing it loads nothing else)."""

__version__ = "0.1.0"
