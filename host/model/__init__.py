"""The model of a core on the host: the bit-exact twin (:mod:`.twin`), the integer parameters
of a network (:mod:`.params`), and float references to compare it with (:mod:`.brian2_ref`)."""
