"""The embedded default of `make run`: its JupyterHub configuration (jupyterhub_config.py)
and its offline demo parts (demo.py). Nothing else imports from here."""
