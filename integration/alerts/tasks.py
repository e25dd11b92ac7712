"""django-q2 entry points of the alerts."""

from .incidents import evaluate


def evaluate_alerts() -> str:
    result = evaluate()
    return (f"opened {len(result.opened)}, reminded {len(result.reminded)}, resolved {len(result.resolved)}"
            + (f", failed rules: {', '.join(result.failed_rules)}" if result.failed_rules else ""))
