"""The in-container side of Downstream Sync: app-server (watch and serve) and app-connect (stdio relay)."""
