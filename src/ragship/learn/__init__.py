"""Learning from production: feedback and reviews become a labeled set (labels.py), kept versioned in the home
(datasets.py); improvement runs re-fit the answer calibration and re-adapt the embedding model on it, build a
candidate and put it through the gate (improve.py). Runs are recorded in the state store, with the triggers the
scheduler checks and the process a scheduled run lives in (runs.py); loop.py ties these together for the faces.
Beside them, what people read of production: the review queue (review.py), a key's own question history
(history.py), the questions the documents fail to answer (gaps.py) and the feedback export
(feedback_export.py)."""
