"""One module per `dossierflow` sub-command, each exposing `add_commands(subparsers)`."""
