"""Running a study: the objective, samplers and pruners, the worker loop, the local job."""
