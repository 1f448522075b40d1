"""The spikeforge tutorial (docs/tutorial.md walks through it): an excitatory/inhibitory network
with STDP, written in physical units, run on the twin (model://) and on the simulated board
(sim://), compared with Brian2.

    .venv/bin/python examples/tutorial.py                 # pictures into tutorial-out/
    .venv/bin/python examples/tutorial.py --out /tmp/t --duration 0.5 --no-brian2
"""

import argparse
from pathlib import Path

import numpy as np

import spikeforge as sf


def build(seed=1, inputs=50, rate_hz=15.0, duration=2.0):
    """The network: 80 excitatory and 20 inhibitory neurons driven by 50 Poisson spike trains
    whose input synapses onto the excitatory neurons learn with pair STDP."""
    # Poisson spike times drawn here (not on the chip) so that Brian2 can replay them
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.uniform(0, duration, rng.poisson(rate_hz * duration)))
             for _ in range(inputs)]
    noise = sf.SpikeSourceArray(times, label="noise")

    exc = sf.Population(80, tau_m=20e-3, tau_syn=5e-3, v_rest=-65e-3, v_reset=-65e-3,
                        v_thresh=-50e-3, t_ref=2e-3, label="exc")
    inh = sf.Population(20, tau_m=10e-3, tau_syn=5e-3, v_rest=-65e-3, v_reset=-65e-3,
                        v_thresh=-50e-3, t_ref=1e-3, label="inh")
    stdp = sf.Stdp(tau_plus=20e-3, tau_minus=20e-3, A_plus=0.4e-3, A_minus=0.44e-3,
                   w_min=0.0, w_max=20e-3)
    feed = sf.Projection(noise, exc, sf.FixedProbability(0.3, seed=2), weight=10e-3,
                         stdp=stdp, label="noise->exc")
    net = sf.Network(
        feed,
        sf.Projection(noise, inh, sf.FixedProbability(0.3, seed=3), weight=8e-3),
        sf.Projection(exc, exc, sf.FixedProbability(0.1, seed=4, allow_self=False),
                      weight=2e-3),
        sf.Projection(exc, inh, sf.FixedProbability(0.2, seed=5), weight=6e-3),
        sf.Projection(inh, exc, sf.FixedProbability(0.3, seed=6), weight=-12e-3),
        dt=1e-3,
        config={"weight_bits": 12})       # 12-bit weights: STDP steps of a few µV
    return net, exc, inh, feed


def run_on(url, duration):
    """Run the network with learning on ``url``; returns what the tutorial looks at."""
    net, exc, inh, feed = build(duration=duration)
    with sf.open(url, net) as session:
        before = session.weights(feed)
        result = session.run(duration, record=[(exc, [0, 1, 2])])
        after = session.weights(feed)
        learned = session.device.read_network()
    return dict(net=net, exc=exc, inh=inh, result=result, before=before, after=after,
                learned=learned)


def compare_with_brian2(duration, learned_net=None, learned=None):
    """The network as written, in Brian2 (continuous time, floats), against the core, learning
    off; and the learned integers in Brian2's float arithmetic against the twin."""
    from spikeforge.host.formats.netfile import NetworkSpec
    from spikeforge.host.model.brian2_physical import brian2_physical_run
    from spikeforge.host.runs.agreement import agreement_report, spike_agreement

    net, *_ = build(duration=duration)
    reference = brian2_physical_run(net, duration)
    with sf.open("model://", net) as session:
        core = session.run(duration, learn=False).spikes
    physical = spike_agreement(reference, core, window=2)
    if learned is None:
        return physical, None
    compiled = learned_net.compile()
    steps = compiled.steps(duration)
    spec = NetworkSpec(learned, steps=steps, learn=False, name="tutorial",
                       input_spikes=np.argwhere(compiled.input_raster(0, steps)))
    integers = agreement_report(spec, ["brian2", "model"])["pairs"][0]
    return physical, integers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tutorial-out", help="folder for the pictures")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of learning")
    parser.add_argument("--no-sim", action="store_true", help="skip sim://")
    parser.add_argument("--no-brian2", action="store_true", help="skip the Brian2 comparison")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. the network, and what quantisation does to it
    net, *_ = build(duration=args.duration)
    print(net)
    print(net.compile().report)

    # 2. learning on the twin
    model = run_on("model://", args.duration)
    result, exc, inh = model["result"], model["exc"], model["inh"]
    print(result)
    print(f"rates: exc {result.rates_hz(exc).mean():.1f} Hz, inh "
          f"{result.rates_hz(inh).mean():.1f} Hz")
    before, after = model["before"], model["after"]
    finite = np.isfinite(before)
    change = (after - before)[finite]
    print(f"noise->exc weights: mean {before[finite].mean() * 1e3:.3f} mV -> "
          f"{after[finite].mean() * 1e3:.3f} mV; {np.mean(change > 0):.0%} grew, "
          f"{np.mean(change < 0):.0%} shrank")
    result.plot_raster(title="E/I network with STDP (model://)").savefig(out / "raster.png")
    result.plot_traces(exc).savefig(out / "traces.png")
    sf.plot_weight_change(before, after, title="noise->exc").savefig(out / "weights.png")

    # 3. the same on the simulated board: the RTL computes exactly what the twin computes
    if not args.no_sim:
        sim = run_on("sim://", args.duration)
        same = (np.array_equal(sim["result"].spikes, result.spikes)
                and np.array_equal(sim["learned"].W, model["learned"].W)
                and np.array_equal(sim["result"].v(sim["exc"]), result.v(exc)))
        print(f"sim:// and model://: {'bit-identical' if same else 'DIFFERENT'} spikes, "
              f"traces and learned weights")
        if not same:
            raise SystemExit(1)

    # 4. against Brian2: the network as written (continuous time, floats, learning off), and
    #    the learned integers in float arithmetic
    if not args.no_brian2:
        physical, integers = compare_with_brian2(min(args.duration, 1.0), net, model["learned"])
        for label, pair in (("Brian2 (as written) vs model", physical),
                            ("Brian2 (learned integers, float) vs model", integers)):
            print(f"{label}: coincidence factor {pair['gamma']:.3f}, spikes "
                  f"{pair['spikes_reference']} / {pair['spikes_other']}, "
                  f"{pair['identical_fraction']:.1%} identical")
    print(f"pictures in {out}/")


if __name__ == "__main__":
    main()
