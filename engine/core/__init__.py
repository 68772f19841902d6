"""The rule language: YAML rule files -> validated, layered, type-checked model -> durable_rules rulesets.

Nothing here decides a request; ``runtime`` does.  Only ``compile`` knows durable_rules' ruleset format.
"""
