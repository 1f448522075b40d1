import pytest

from spikeforge.sim.driver import CoreSimulation


@pytest.fixture(scope="module")
def simulate():
    """``simulate(config, body)``: run ``await body(driver)`` on a core of ``config`` in
    Amaranth's simulator, from the power-on state, and return its result. The simulator of a
    configuration is built once per test module (building takes seconds, a run of a few steps
    far less) and reset before each run."""
    simulations = {}

    def simulate(config, body):
        if config not in simulations:
            simulations[config] = CoreSimulation(config)
        return simulations[config].run(body)

    return simulate
