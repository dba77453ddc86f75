#!/usr/bin/env python3
"""Offers Feedback command line: `python run.py --help`."""
from backend.cli import cli

if __name__ == "__main__":
    cli()
