"""Subcommands of the `predictorapi` CLI."""
