"""A Vogels-Abbott-style E/I network in PyNN, scaled to one core.

The script is written against the PyNN API only; the simulator is chosen on the command line:

    python examples/pynn_vogels_abbott.py                       # spikeforge, model://
    python examples/pynn_vogels_abbott.py --device sim://       # the simulated board
    python examples/pynn_vogels_abbott.py --simulator brian2    # pyNN.brian2

Vogels & Abbott (2005) use 4000 neurons; this is their current-based (CUBA) variant as in
PyNN's VA benchmark, scaled to 400 IF_curr_exp cells that fit one core: 80 % excitatory, 20 %
inhibitory, connection probability 2 % x 4000 / n (80 inputs per neuron, as in the original),
v_rest = -49 mV just above the -50 mV threshold, and a brief external kick. The activity
sustains itself after the kick; the script prints the rates of both halves of the run.
"""

import argparse
import time

import numpy as np


#: the CUBA weights of PyNN's VA benchmark (nA): 0.27 nS * 60 mV and 4.5 nS * -20 mV, the
#: inhibitory one doubled as its synapses decay in 5 ms here, not 10 ms (one tau_syn per neuron)
W_EXC, W_INH = 0.0162, -0.18


def build_and_run(sim, n=400, duration=1000.0, seed=7):
    n_exc, n_inh = int(n * 0.8), n // 5
    cell = dict(tau_m=20.0, cm=0.2, tau_syn_E=5.0, tau_syn_I=5.0, v_rest=-49.0,
                v_reset=-60.0, v_thresh=-50.0, tau_refrac=5.0, i_offset=0.0)
    exc = sim.Population(n_exc, sim.IF_curr_exp(**cell), label="exc")
    inh = sim.Population(n_inh, sim.IF_curr_exp(**cell), label="inh")
    # the kick: 20 input lines firing at 50 Hz during the first 50 ms
    rng = np.random.default_rng(seed)
    kick = [list(np.unique(rng.uniform(1.0, 50.0, rng.poisson(2.5)).round()))
            for _ in range(20)]
    drive = sim.Population(20, sim.SpikeSourceArray(spike_times=kick), label="kick")

    def project(pre, post, p, weight, receptor):
        mask = rng.random((pre.size, post.size)) < p
        if pre is post:
            np.fill_diagonal(mask, False)
        return sim.Projection(pre, post, sim.ArrayConnector(mask),
                              sim.StaticSynapse(weight=weight, delay=sim.get_time_step()),
                              receptor_type=receptor)

    p = 0.02 * 4000 / n
    project(drive, exc, 0.2, 0.3, "excitatory")
    project(drive, inh, 0.2, 0.3, "excitatory")
    project(exc, exc, p, W_EXC, "excitatory")
    project(exc, inh, p, W_EXC, "excitatory")
    project(inh, exc, p, W_INH, "inhibitory")
    project(inh, inh, p, W_INH, "inhibitory")
    exc.record("spikes")
    inh.record("spikes")
    sim.run(duration)
    return exc, inh


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="spikeforge", choices=["spikeforge", "brian2"])
    parser.add_argument("--device", default="model://", help="spikeforge device URL")
    parser.add_argument("--duration", type=float, default=1000.0, help="ms")
    parser.add_argument("--neurons", type=int, default=400)
    args = parser.parse_args(argv)
    if args.simulator == "brian2":
        import brian2

        brian2.prefs.codegen.target = "numpy"
        import pyNN.brian2 as sim

        sim.setup(timestep=1.0)
    else:
        import spikeforge.pynn as sim

        sim.setup(timestep=1.0, device=args.device)
    start = time.perf_counter()
    exc, inh = build_and_run(sim, n=args.neurons, duration=args.duration)
    rates = {}
    for pop in (exc, inh):
        trains = pop.get_data("spikes").segments[0].spiketrains
        late = sum(int(np.count_nonzero(t.magnitude >= args.duration / 2)) for t in trains)
        rates[pop.label] = sum(len(t) for t in trains) / len(trains) / (args.duration * 1e-3)
        rates[pop.label + " (2nd half)"] = late / len(trains) / (args.duration * 0.5e-3)
    print(f"{args.simulator} ({args.device if args.simulator == 'spikeforge' else 'brian2'}): "
          f"{args.duration:g} ms in {time.perf_counter() - start:.1f} s; rates: "
          + ", ".join(f"{k} {v:.1f} Hz" for k, v in rates.items()))
    if args.simulator == "spikeforge":
        print(sim.quantization_report())
    sim.end()
    return rates


if __name__ == "__main__":
    main()
