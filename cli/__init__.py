"""The `lingtan` command: argument parsing, process running and the demo.

Subcommands import what they run only when they run, so the gateway's commands work on the
base install and a platform command without its extra says which one to install.
"""
