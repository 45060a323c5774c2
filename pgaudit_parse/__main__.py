"""``python -m pgaudit_parse`` runs the CLI."""

from .cli import console

if __name__ == "__main__":
    console()
