"""python manage.py config_check [FILE]: show what Batchsite understood from a config file."""
import sys
from typing import TextIO

from django.core.management.base import BaseCommand

from batchsite.config import ConfigError, describe, load_config


def config_check(path: str | None, out: TextIO, err: TextIO) -> int:
    """Print what the config means to out and its problems to err; return the exit status."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        err.write(f"config_check: {exc}\n")
        return 1
    out.write(describe(config) + "\n")
    # A file still holding Cromwell's "<...>" examples loads, but cannot run anything.
    for key, text in config.placeholders:
        err.write(f'config_check: {config.source}: {key}: placeholder "{text}" must be replaced\n')
    return 1 if config.placeholders else 0


class Command(BaseCommand):
    help = "Check a Cromwell-style HOCON config file and print what Batchsite understood from it."
    # Checking a config must work before the rest of the site (URLs, database) is usable.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "file", nargs="?", help="the config file (default: $BATCHSITE_CONFIG, else the built-in config)"
        )

    def handle(self, *args, file=None, **options):
        status = config_check(file, self.stdout, self.stderr)
        if status:
            sys.exit(status)
