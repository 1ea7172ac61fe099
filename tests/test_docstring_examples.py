"""The examples in lrsearch's docstrings run, and print what they say they print.

Two of them had gone wrong unnoticed (the suite never ran them); every module of the package
is imported and its examples run here, one test per module that has any.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lrsearch


def _modules() -> list[str]:
    names = [lrsearch.__name__]
    prefix = lrsearch.__name__ + "."
    names += [m.name for m in pkgutil.walk_packages(lrsearch.__path__, prefix)]
    return sorted(n for n in names if not n.endswith("__main__"))


def _runs(example: doctest.Example) -> bool:
    return not example.options.get(doctest.SKIP, False)


def _with_examples() -> list[str]:
    """The modules with examples that run (not all marked ``+SKIP``: those need a server)."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [
        name
        for name in _modules()
        if any(_runs(e) for t in finder.find(importlib.import_module(name)) for e in t.examples)
    ]


MODULES = _with_examples()


def test_the_package_has_examples_to_run() -> None:
    assert len(MODULES) >= 10, MODULES  # a walk that found nothing would pass every case below


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_print_what_they_say(name: str) -> None:
    failed, tried = doctest.testmod(importlib.import_module(name), report=True)
    assert tried > 0
    assert failed == 0, f"{failed} of {tried} examples in {name} failed (printed above)"
