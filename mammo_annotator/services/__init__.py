"""Use cases over core, ml and store. No Qt: the GUI and the CLI both call these."""
