"""The report's sections, in order: (title, function of the context)."""

from __future__ import annotations

from collections.abc import Callable

from _report.arch import section_arch
from _report.budgets import section_budgets
from _report.cost import section_cost
from _report.evaluate import section_evaluate
from _report.family import section_family
from _report.fit import section_fit
from _report.model import Context
from _report.rank import section_rank
from _report.sampling import section_sampling
from _report.search import section_search
from _report.summary import section_summary
from _report.supernet import section_supernet

SECTIONS: tuple[tuple[str, Callable[[Context], list[str]]], ...] = (
    ("Run summary", section_summary),
    ("FLOPs budgets", section_budgets),
    ("Sampling distributions: HSS vs uniform", section_sampling),
    ("Super-supernet accuracy per scaling stage", section_supernet),
    ("Ranking quality: HSS vs uniform", section_rank),
    ("MCEA search", section_search),
    ("The searched base model", section_arch),
    ("Fitted scaling curves", section_fit),
    ("The model family", section_family),
    ("Accuracy vs FLOPs and parameters against the baselines", section_evaluate),
    ("Search and training cost", section_cost),
)
