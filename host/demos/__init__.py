"""Demonstrations: digits learned on the chip (:mod:`.digits`) and the Song, Miller & Abbott
(2000) plasticity check (:mod:`.song2000`)."""
