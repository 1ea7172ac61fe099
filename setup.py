"""The package list, the one thing pyproject.toml cannot say here.

``lrsearch.migrations`` lives in the top-level ``migrations/`` folder (pyproject's
``[tool.setuptools.package-dir]``). ``[tool.setuptools.packages.find]`` only finds packages
where their folders are, so it cannot name that one, and a hand-written list in pyproject.toml
would silently leave every new room out of the wheel. Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["lrsearch", "lrsearch.*"]),
        "lrsearch.migrations",
        "lrsearch.migrations.versions",
    ]
)
