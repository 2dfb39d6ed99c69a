"""The retention job: a hub service that applies the levels' data-retention rules to the
users' homes (job.py), with the rules as pure functions (rules.py) and the safe file
handling (files.py). See docs/retention.md."""
