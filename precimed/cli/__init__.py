"""The ``precimed`` command line. Each command lives in its own module (see ``main.COMMANDS``)."""
