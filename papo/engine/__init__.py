"""Automation rules: validated schemas, compiled conditions, a pure evaluator, rendering, Redis state.

Public API (see RULES.md): validate_rule, rule_warnings, trigger_possible, triggers_for, RuleView,
LeadView, EvalContext, ConversationState, TemplateView, RuleIndex, evaluate, decide, Action, RuleError.
The Redis helpers live in papo.engine.state (async, imported separately: the rest is pure); dry runs
over stored history in papo.engine.dryrun.
"""

from papo.engine.errors import RuleError
from papo.engine.evaluator import decide, evaluate
from papo.engine.index import RuleIndex
from papo.engine.model import (
    Action,
    ConversationState,
    Decision,
    EvalContext,
    Fired,
    LeadView,
    Note,
    RuleView,
    TemplateCall,
    TemplateView,
    action_id,
)
from papo.engine.render import placeholders, render
from papo.engine.triggers import trigger_possible, triggers_for
from papo.engine.validate import ValidRule, rule_warnings, validate_rule

__all__ = [
    "Action",
    "ConversationState",
    "Decision",
    "EvalContext",
    "Fired",
    "LeadView",
    "Note",
    "RuleError",
    "RuleIndex",
    "RuleView",
    "TemplateCall",
    "TemplateView",
    "ValidRule",
    "action_id",
    "decide",
    "evaluate",
    "placeholders",
    "render",
    "rule_warnings",
    "trigger_possible",
    "triggers_for",
    "validate_rule",
]
