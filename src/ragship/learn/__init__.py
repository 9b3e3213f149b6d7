"""Learning from production: feedback and reviews become a labeled set (labels.py), kept versioned in the home
(datasets.py); improvement runs re-fit the answer calibration and re-adapt the embedding model on it, build a
candidate and put it through the gate (improve.py), on triggers the scheduler checks (triggers.py)."""
