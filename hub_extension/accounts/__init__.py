"""Accounts: the authenticator's hooks (authenticator.py), the account workflows
(workflows.py) that the pages (pages.py) and the REST API (api.py) call, and the store
(store.py, tables.py) with its credentials, throttles and OAuth providers."""
