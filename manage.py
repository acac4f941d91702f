#!/usr/bin/env python
"""Django's command-line utility; same as the ``ucis`` command."""

from ucis.cli import main

if __name__ == "__main__":
    main()
