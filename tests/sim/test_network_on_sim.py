"""A network in physical units runs bit-identically on the simulated board and the twin."""

import numpy as np
import pytest

import spikeforge as sf

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def test_physical_network_is_bit_identical_on_sim_and_model():
    def build():
        exc = sf.Population(8, tau_m=20e-3, label="exc")
        inh = sf.Population(4, tau_m=10e-3, label="inh")
        cue = sf.SpikeSourceArray([[0.010, 0.020], [0.010], [], [0.030]], label="cue")
        noise = sf.SpikeSourcePoisson(3, rate_hz=[50, 100, 0], label="noise")
        stdp = sf.Stdp(A_plus=2e-3, A_minus=2e-3, w_max=0.08)
        learn = sf.Projection(noise, exc, sf.AllToAll(), weight=0.04, stdp=stdp)
        net = sf.Network(learn, sf.Projection(cue, exc, sf.AllToAll(), weight=0.05),
                         sf.Projection(exc, inh, sf.FixedProbability(0.5, seed=2), weight=0.03),
                         sf.Projection(inh, exc, sf.FixedProbability(0.5, seed=3),
                                       weight=-0.03), dt=1e-3)
        return net, exc, learn

    out = {}
    for url in ("model://", "sim://"):
        net, exc, learn = build()
        with sf.open(url, net) as session:
            result = session.run(0.15, record=[(exc, [0, 3])])
            learned = session.weights(learn)
            session.reset(weights=True)
            again = session.run(0.15)
            out[url] = (result.spikes, result.v(exc), result.i(exc), learned, again.spikes)
    assert np.array_equal(out["model://"][4], out["model://"][0])
    model, sim = out["model://"], out["sim://"]
    assert model[0].sum() > 0
    for a, b in zip(model, sim):
        np.testing.assert_array_equal(a, b)
