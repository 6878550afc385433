"""Handlers of the `pipeline` subcommands that have more to them than a line or two, one module per topic."""
