"""``python -m pgaudit_parse`` runs the CLI."""

from .cli import console

console()
