import pytest


@pytest.fixture
def brian2_sim():
    """pyNN.brian2 with Brian2's numpy code generation (no C++ compile in the tests)."""
    brian2 = pytest.importorskip("brian2")
    pytest.importorskip("pyNN")
    before = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    import pyNN.brian2 as sim

    yield sim
    brian2.prefs.codegen.target = before


@pytest.fixture
def sf_sim():
    import spikeforge.pynn as sim

    yield sim
    sim.end()
