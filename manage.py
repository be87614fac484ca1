#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peardeck.settings")
    # Multiprocess metrics are for gunicorn's workers, whose master sums their files. A command is
    # one process that serves its own metrics (firebase_worker, firebase_probe) or none (migrate):
    # in multiprocess mode it would write files nobody reads, and crash at import wherever the
    # directory is not writable (a read-only pod that only inherited the variable).
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
