"""Traffic simulator with ground truth: synthetic NGX customers whose outcomes are known.

``population`` draws the customers and their personas, ``generator`` turns them into
events day by day, ``truth`` writes what was planted, ``runner`` (backfill) and ``live``
send it. Generation never needs a server; see docs/simulator.md.
"""

from __future__ import annotations

from nexus_crm.simulate.evaluation import ReplayStats
from nexus_crm.simulate.generator import history
from nexus_crm.simulate.live import LiveReport, natural_rate, replay_subscriptions, stream
from nexus_crm.simulate.population import GENERATOR_VERSION, Population, build_population
from nexus_crm.simulate.quality import Evaluation, evaluate_truth
from nexus_crm.simulate.runner import backfill
from nexus_crm.simulate.sender import SendError
from nexus_crm.simulate.timeline import first_day_for, parse_end
from nexus_crm.simulate.truth import Tally, build_truth, read_truth, write_truth

__all__ = (
    "GENERATOR_VERSION",
    "Evaluation",
    "LiveReport",
    "Population",
    "ReplayStats",
    "SendError",
    "Tally",
    "backfill",
    "build_population",
    "build_truth",
    "evaluate_truth",
    "first_day_for",
    "history",
    "natural_rate",
    "parse_end",
    "read_truth",
    "replay_subscriptions",
    "stream",
    "write_truth",
)
