"""aglais-hub's JupyterHub extension: authenticators, account levels, login pages and the hub-side wiring of the booking service."""
