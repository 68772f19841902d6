"""Analyst and auditor tools built on the runtime: policy tests and coverage, lint, diff, replay,
the matrix, why-not counterfactuals and the benchmark.  Each registers its own ``gongji`` subcommand.
"""
