"""Spike-timing-dependent plasticity in PyNN: inputs that fire just before the neuron grow.

    python examples/pynn_stdp.py                       # spikeforge, model://
    python examples/pynn_stdp.py --device sim://       # the simulated board
    python examples/pynn_stdp.py --simulator brian2    # pyNN.brian2

One IF_curr_exp neuron gets 20 plastic inputs (STDPMechanism with SpikePairRule and
AdditiveWeightDependence, the core's own rule) and a teacher that makes it fire every 50 ms.
Inputs 0-9 spike 4 ms before each teacher volley, inputs 10-19 at a random time of the cycle.
After learning, read through ``Projection.get('weight')``, the first group sits at w_max and the
second does not.
"""

import argparse

import numpy as np


def build_and_run(sim, duration=2000.0, seed=5):
    rng = np.random.default_rng(seed)
    period = 50.0
    beats = np.arange(10.0, duration - 10.0, period)
    early = [list(beats - 4.0) for _ in range(10)]
    random = [list(np.unique(rng.uniform(1.0, duration - 1.0, beats.size).round()))
              for _ in range(10)]
    inputs = sim.Population(20, sim.SpikeSourceArray(spike_times=early + random),
                            label="inputs")
    teacher = sim.Population(5, sim.SpikeSourceArray(spike_times=list(beats)),
                             label="teacher")
    post = sim.Population(1, sim.IF_curr_exp(tau_m=10.0, cm=0.25, tau_refrac=2.0),
                          label="post")
    stdp = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.04,
                                            A_minus=0.048),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.2),
        weight=0.1, delay=sim.get_time_step(), dendritic_delay_fraction=0)
    plastic = sim.Projection(inputs, post, sim.AllToAllConnector(), synapse_type=stdp,
                             label="plastic")
    sim.Projection(teacher, post, sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=0.2, delay=sim.get_time_step()))
    post.record("spikes")
    sim.run(duration)
    weights = np.asarray(plastic.get("weight", format="array"), dtype=float)[:, 0]
    spikes = len(post.get_data("spikes").segments[0].spiketrains[0])
    return weights, spikes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="spikeforge", choices=["spikeforge", "brian2"])
    parser.add_argument("--device", default="model://", help="spikeforge device URL")
    parser.add_argument("--duration", type=float, default=2000.0, help="ms")
    args = parser.parse_args(argv)
    if args.simulator == "brian2":
        import brian2

        brian2.prefs.codegen.target = "numpy"
        import pyNN.brian2 as sim

        sim.setup(timestep=1.0)
    else:
        import spikeforge.pynn as sim

        sim.setup(timestep=1.0, device=args.device)
    weights, spikes = build_and_run(sim, duration=args.duration)
    print(f"{args.simulator}: {spikes} post spikes in {args.duration:g} ms; weights (nA, "
          f"from 0.1): inputs before the post spike {weights[:10].mean():.4f}, inputs at "
          f"random times {weights[10:].mean():.4f}")
    if args.simulator == "spikeforge":
        print(sim.quantization_report())
    sim.end()
    return weights, spikes


if __name__ == "__main__":
    main()
