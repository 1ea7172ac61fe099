"""lrsearch: hyperparameter search for learning-rate schedules."""
