"""Park simulator: a park's meters as Modbus devices, with physics that balance and ground truth."""

from simulator.clock import ManualClock, SimClock
from simulator.faults import Faults
from simulator.model import ParkModel
from simulator.scenario import Scenario, load_scenario
from simulator.server import ParkServer
from simulator.truth import CounterTruth, MeterTruth, ParkTotals, PeriodTruth

__all__ = ["CounterTruth", "Faults", "ManualClock", "MeterTruth", "ParkModel", "ParkServer", "ParkTotals",
           "PeriodTruth", "Scenario", "SimClock", "load_scenario"]
