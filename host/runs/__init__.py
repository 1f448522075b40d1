"""Running networks on devices: run records and their files (:mod:`.results`), agreement with
float references (:mod:`.agreement`), and pictures (:mod:`.plots`); physical networks on a
device, in the user's units (:mod:`.session`)."""
