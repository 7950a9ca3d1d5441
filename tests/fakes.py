"""Hand-written doubles for unit tests of one layer (ARCHITECTURE rule 10): a scripted Validator and
a settable Clock. Integration and protocol tests use the real VA over loopback instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from acme_server.services.ports import ValidationOutcome, ValidationTask


@dataclass
class ScriptedValidator:
    """Answers each validation from `outcomes` (by identifier; default valid) and records the tasks."""

    outcomes: dict[str, ValidationOutcome] = field(default_factory=dict)
    seen: list[ValidationTask] = field(default_factory=list)

    async def validate(self, task: ValidationTask) -> ValidationOutcome:
        self.seen.append(task)
        return self.outcomes.get(task.identifier_value, ValidationOutcome(valid=True))


@dataclass
class FixedClock:
    current: datetime

    def now(self) -> datetime:
        return self.current
