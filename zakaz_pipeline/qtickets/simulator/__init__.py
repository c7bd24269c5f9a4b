"""A deterministic fake Qtickets account served over real HTTP, with its own ground truth."""
