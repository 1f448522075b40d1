#!/usr/bin/env python3
"""Regenerate the example networks in examples/.

* recurrent_stdp.toml -- a small recurrent network (80 % excitatory, 20 % inhibitory) driven by
  Poisson-like inputs, learning its input weights with STDP;
* synfire.toml -- a synfire chain: groups of neurons, each exciting the next group, started by
  volleys of input spikes;
* nir_lif.nir -- a float CubaLIF model written with the nir package's own constructors, and
  nir_lif.toml, the same model imported onto a core.

Run from the repository root: ``.venv/bin/python scripts/make_examples.py``.
"""

import sys
from pathlib import Path

import numpy as np

from spikeforge.config import CoreConfig
from spikeforge.host.formats.netfile import NetworkSpec, save_network_file
from spikeforge.host.model.params import GlobalParams, Network, NeuronParams

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def recurrent_stdp():
    rng = np.random.default_rng(7)
    config = CoreConfig(neurons=40, inputs=16, lanes=8)
    n, m = config.neurons, config.inputs
    excitatory = np.arange(n) < int(0.8 * n)
    W = np.zeros((config.rows, n), dtype=np.int64)
    recurrent = rng.random((n, n)) < 0.15
    np.fill_diagonal(recurrent, False)
    W[:n][recurrent] = rng.integers(10, 40, size=int(recurrent.sum()))
    W[:n][~excitatory] *= -3
    W[:n] = np.clip(W[:n], *config.weight_range)
    feed = rng.random((m, n)) < 0.4
    W[n:][feed] = rng.integers(20, 70, size=int(feed.sum()))
    mask = np.zeros(W.shape, dtype=bool)
    mask[n:] = feed                                 # only existing input synapses learn
    neurons = NeuronParams.default(config)
    glob = GlobalParams.default(config, w_min=0, w_max=100, a_plus=3, a_minus=3, stdp_shift=6)
    network = Network(config, neurons, glob, W, mask).validate()
    return NetworkSpec(network, steps=1000, learn=True, probes=(0, 1, 35), input_rate=0.04,
                       input_seed=1, name="recurrent_stdp",
                       description="40 LIF neurons (32 excitatory, 8 inhibitory), 16 Poisson-like "
                                   "inputs; STDP on the input synapses")


def synfire():
    groups, size = 6, 8
    config = CoreConfig(neurons=groups * size, inputs=size, lanes=8, stdp=False,
                        adaptive_threshold=False)
    n = config.neurons
    W = np.zeros((config.rows, n), dtype=np.int64)
    for g in range(groups - 1):
        W[g * size:(g + 1) * size, (g + 1) * size:(g + 2) * size] = 45
    W[n:, 0:size] = 60                              # every input line drives the first group
    neurons = NeuronParams.default(config, refrac=4)
    network = Network(config, neurons, GlobalParams.default(config), W).validate()
    volleys = [[step, k] for step in range(5, 200, 40) for k in range(size)]
    return NetworkSpec(network, steps=200, probes=(0, size, 2 * size, n - 1),
                       input_spikes=np.array(volleys), name="synfire",
                       description=f"synfire chain of {groups} groups of {size} neurons; an "
                                   f"input volley every 40 steps starts a wave")


def nir_lif_graph():
    import nir

    rng = np.random.default_rng(3)
    n, m = 20, 8
    dt = 1e-3
    tau_mem, tau_syn = 0.02, 0.005
    w_in = rng.normal(0.25, 0.1, size=(n, m)) * (rng.random((n, m)) < 0.5)
    w_rec = rng.normal(0.0, 0.15, size=(n, n)) * (rng.random((n, n)) < 0.2)
    np.fill_diagonal(w_rec, 0.0)
    lif = nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem),
                      r=np.full(n, tau_mem / dt), v_leak=np.zeros(n),
                      v_threshold=np.full(n, 1.0), v_reset=np.zeros(n))
    nodes = {"input": nir.Input(np.array([m])),
             "w_in": nir.Affine(weight=w_in, bias=np.full(n, 0.002)),
             "lif": lif,
             "w_rec": nir.Linear(weight=w_rec),
             "output": nir.Output(np.array([n]))}
    edges = [("input", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
             ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt, "name": "nir_lif"})


def main():
    EXAMPLES.mkdir(exist_ok=True)
    for spec in (recurrent_stdp(), synfire()):
        for path in save_network_file(spec, EXAMPLES / f"{spec.name}.toml"):
            print(f"wrote {path}")
    try:
        import nir
    except ModuleNotFoundError:
        print("nir is not installed (pip install nir): skipped nir_lif.nir", file=sys.stderr)
        return
    from spikeforge.host.formats.nir_io import import_nir

    graph = nir_lif_graph()
    nir.write(EXAMPLES / "nir_lif.nir", graph)
    print(f"wrote {EXAMPLES / 'nir_lif.nir'}")
    result = import_nir(nir.read(EXAMPLES / "nir_lif.nir"), steps=300, input_rate=0.05, seed=2,
                        name="nir_lif")
    for path in save_network_file(result.spec, EXAMPLES / "nir_lif.toml"):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
