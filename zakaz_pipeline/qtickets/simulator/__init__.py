"""A deterministic fake Qtickets account served over real HTTP, with its own ground truth."""

from zakaz_pipeline.qtickets.simulator.account import SimulatedAccount
from zakaz_pipeline.qtickets.simulator.server import RequestRecord, SimulatorServer, serve_forever

__all__ = ["RequestRecord", "SimulatedAccount", "SimulatorServer", "serve_forever"]
