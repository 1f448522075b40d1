"""Files that hold networks: spikeforge network files (:mod:`.netfile`) and NIR graphs
(:mod:`.nir_io`)."""
