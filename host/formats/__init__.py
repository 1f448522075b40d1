"""Files that hold networks and runs: spikeforge network files (:mod:`.netfile`), NIR graphs
(:mod:`.nir_io`), and runs as Neo blocks (:mod:`.neo_io`)."""
