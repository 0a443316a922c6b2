"""Simulated agency systems for the demo, the tests and the benchmarks (real servers, real sockets)."""

from broker.simulators.rest_agency import (
    NESTED,
    Behaviour,
    Controller,
    Profile,
    profile_for,
    running_simulator,
    simulate_agencies,
    start_simulator,
)

__all__ = [
    "NESTED",
    "Behaviour",
    "Controller",
    "Profile",
    "profile_for",
    "running_simulator",
    "simulate_agencies",
    "start_simulator",
]
