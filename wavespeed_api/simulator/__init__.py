"""A local WaveSpeed API double for tests, the demo mode and benchmarks. It is NOT the real service.

It follows WaveSpeed's documented API (endpoints, envelopes, ranges, error shapes, webhook signatures) and renders real
images with Pillow as cheap "variations" of the source. Faults (failures, 5xx, malformed bodies, slow answers,
NSFW flags) are injected at configurable rates. It needs no Django settings or database.

    sim = start_simulator(SimulatorConfig(latency=0.2), port=0)
    sim.base_url; sim.config.api_key = "other"; sim.stats(); sim.stop()

Besides WaveSpeed's routes it answers two test-only ones: GET /_sim/stats and GET/POST /_sim/config.
"""

from .config import DOCUMENTED_FAILURE_CODES, SimulatorConfig
from .server import RunningSimulator, start_simulator

__all__ = ["DOCUMENTED_FAILURE_CODES", "RunningSimulator", "SimulatorConfig", "start_simulator"]
