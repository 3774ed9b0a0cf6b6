"""The ``zoo`` command line: click commands that parse, call the ``zoo`` API and print."""
