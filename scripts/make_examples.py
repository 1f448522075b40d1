#!/usr/bin/env python3
"""Regenerate the generated examples in examples/.

* nir_lif.nir -- a float CubaLIF model written with the nir package's own constructors, and
  nir_lif.toml, the same model imported onto a core (the raw, integer form that import-nir
  writes).

recurrent_stdp.toml and synfire.toml are written by hand in physical units (docs/units.md).

Run from the repository root: ``.venv/bin/python scripts/make_examples.py``.
"""

import sys
from pathlib import Path

import numpy as np

from spikeforge.host.formats.netfile import save_network_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


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
