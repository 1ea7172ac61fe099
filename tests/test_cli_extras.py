"""``lrsearch --version``, the package's top-level names, and the one line that names a missing
extra (the real missing packages are tested on a core-only install: tests/store/test_wheel.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lrsearch
from lrsearch.cli import main
from lrsearch.cli.extras import EXTRAS, MODULE_EXTRA, missing_extra, require, require_driver


def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["lrsearch", "--version"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code in (0, None)
    assert capsys.readouterr().out == f"lrsearch {lrsearch.__version__}\n"
    assert lrsearch.__version__ == "0.1.0"


def test_top_level_names_load_lazily_and_schedules_need_no_torch() -> None:
    code = (
        "import sys, lrsearch\n"
        "spec = lrsearch.ScheduleSpec.create('cosine', lr=0.1)\n"
        "assert 'torch' not in sys.modules, 'ScheduleSpec loaded torch'\n"
        "assert lrsearch.SpecLR.__module__.startswith('lrsearch.')\n"
        "print(spec.family)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "cosine\n"), done.stderr
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        lrsearch.Nope  # noqa: B018


def test_a_missing_module_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["lrsearch", "schedules", "plot", "cosine"])
    found = missing_extra(ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib"))
    assert (
        str(found) == "lrsearch schedules plot needs the plots extra: pip install 'lrsearch[plots]'"
    )
    monkeypatch.setattr(sys, "argv", ["lrsearch", "serve", "--port", "9"])
    found = missing_extra(ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn.config"))
    assert str(found) == "lrsearch serve needs the server extra: pip install 'lrsearch[server]'"
    assert missing_extra(ModuleNotFoundError("No module named 'nope'", name="nope")) is None
    assert {MODULE_EXTRA[m] for m in ("sklearn", "pyarrow", "psycopg", "httpx")} == {
        "tabular",
        "postgres",
        "client",
    }


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_every_extra_is_installed_here(extra: str) -> None:
    require(extra, "test")  # the test environment (make setup) has every extra
    require_driver("postgresql+psycopg://u@h/db", "test")
