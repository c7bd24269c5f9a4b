"""A deterministic fake Qtickets account served over real HTTP, with its own ground truth."""

from zakaz_pipeline.simulator.server import RequestRecord, SimulatorServer, serve_forever
from zakaz_pipeline.simulator.shop import SimulatedAccount

__all__ = ["RequestRecord", "SimulatedAccount", "SimulatorServer", "serve_forever"]
