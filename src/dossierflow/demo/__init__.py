"""The parts of `dossierflow demo`: child processes, the local mailbox, the live counters."""
