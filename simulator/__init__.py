"""Park simulator: a park's meters as Modbus devices, with physics that balance and ground truth."""

from lingtan.kernel.clock import ManualClock, SimClock
from lingtan.simulator.faults import Faults
from lingtan.simulator.model import ParkModel
from lingtan.simulator.scenario import Scenario, load_scenario
from lingtan.simulator.server import ParkServer
from lingtan.simulator.truth import CounterTruth, MeterTruth, ParkTotals, PeriodTruth

__all__ = ["CounterTruth", "Faults", "ManualClock", "MeterTruth", "ParkModel", "ParkServer", "ParkTotals",
           "PeriodTruth", "Scenario", "SimClock", "load_scenario"]
