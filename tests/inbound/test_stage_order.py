"""The inbound stages' order is declared by each stage (what it fills and reads on the BatchResult) and
checked when the pipeline is built: automation before understanding is refused, naming both."""

from __future__ import annotations

import pytest

from papo.ai.openai_classifier import make_classifier
from papo.pipeline.automate import AutomateStage
from papo.pipeline.optout import OptOutStage
from papo.pipeline.persist import InboundPipeline
from papo.pipeline.understand import UnderstandStage
from papo.services.event_store import BatchResult
from papo.worker import inbound_stages


async def test_the_default_worker_order_is_accepted(stores, settings) -> None:
    stages = inbound_stages(stores, settings, make_classifier(settings))
    pipeline = InboundPipeline(stores, stages)
    assert [type(s) for s in pipeline.stages] == [UnderstandStage, OptOutStage, AutomateStage]


async def test_automation_before_understanding_is_refused(stores, settings) -> None:
    understand, automate = UnderstandStage(stores, make_classifier(settings)), AutomateStage(stores, settings)
    with pytest.raises(ValueError, match=r"stage AutomateStage reads BatchResult\.classifications, but no stage "
                                         r"before it fills it \(UnderstandStage fills it after\)"):
        InboundPipeline(stores, [automate, understand])
    with pytest.raises(ValueError, match=r"AutomateStage reads BatchResult\.classifications.*no stage fills it"):
        InboundPipeline(stores, [automate])


async def test_opt_out_is_optional_for_automation_but_not_after_it(stores, settings) -> None:
    understand, automate = UnderstandStage(stores, make_classifier(settings)), AutomateStage(stores, settings)
    InboundPipeline(stores, [understand, automate])  # nothing `handled`: every message is a candidate
    with pytest.raises(ValueError, match=r"AutomateStage reads BatchResult\.handled, but OptOutStage fills it only "
                                         r"after it"):
        InboundPipeline(stores, [understand, automate, OptOutStage(stores, settings)])


async def test_a_plain_callable_declares_nothing_and_fits_anywhere(stores, settings) -> None:
    async def count(result: BatchResult) -> None:
        pass

    InboundPipeline(stores, [count, UnderstandStage(stores, make_classifier(settings)), count])
