"""Deciding requests: fact documents -> normalized facts -> durable_rules sessions -> decisions and
explanations.  ``api.Engine`` is the prepared object services, batch workers and the CLI load once.
"""
