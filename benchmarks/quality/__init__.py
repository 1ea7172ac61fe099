"""The search-quality benchmark: does lrsearch find a better schedule than a hand-written Optuna
script at the same compute? ``python -m benchmarks.quality``; see benchmarks/README.md."""
