"""Subcommands the operator distribution adds to the `predictorapi` CLI (entry-point group `predictorapi.commands`)."""
