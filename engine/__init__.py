"""gongji: a rule engine for family sharing (家庭共济) of the employee medical-insurance personal account.

    from engine import Engine
    engine = Engine.load("rulesets")
    decision = engine.decide(facts)      # a fact document as in docs/CONTRACT.md
    decision.to_dict()                   # the decision JSON
    print(decision.explain("zh"))        # the auditor's explanation
"""

from .runtime.api import City, Engine
from .runtime.decision import Decision
from .core.errors import (CompileError, EngineError, EvaluationError, FactError, InputError, Issue, RuleFileError,
                     SourceLocation, UsageError)
from .core.load import Limits

Ruleset = City

__all__ = ["City", "CompileError", "Decision", "Engine", "EngineError", "EvaluationError", "FactError", "InputError",
           "Issue", "Limits",
           "RuleFileError", "Ruleset", "SourceLocation", "UsageError"]
__version__ = "0.1.0"
