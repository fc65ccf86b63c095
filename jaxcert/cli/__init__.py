"""Command-line interface: ``jaxcert estimate | demo | rare | sweep | plot | plan``."""

from jaxcert.cli._main import main

__all__ = ["main"]
