"""aglais-hub's JupyterHub extension, one concern a room:

- accounts/: the authenticator's hooks, the account workflows, pages and REST API, the store;
- retention/: the retention job, a hub service;
- config/: the configure_* helpers that wire these (and the booking service) into a hub config;
- embedded/: `make run`'s own configuration and its offline demo parts;
- levels.py (levels are hub groups), mail.py (the hub's Mailer), text.py (user text in logs).
"""
