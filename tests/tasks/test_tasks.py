"""Built-in and user tasks: real data, real (small) training, and every bad-input path."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lrsearch.errors import InvalidInputError
from lrsearch.spec import BUILTIN_TASKS
from lrsearch.tasks import charlm as charlm_module
from lrsearch.tasks.base import TensorTask
from lrsearch.tasks.charlm import charlm, corpus
from lrsearch.tasks.digits import digits_cnn, digits_mlp
from lrsearch.tasks.registry import load_task
from lrsearch.tasks.tabular import tabular

REPO_ROOT = Path(__file__).resolve().parents[2]


# --- a tiny training loop ---------------------------------------------------------------------


def evaluate(model: torch.nn.Module, task: TensorTask) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        outputs = torch.cat(
            [
                model(task.x_val[i : i + task.eval_batch_size])
                for i in range(0, len(task.x_val), task.eval_batch_size)
            ]
        )
        result = {"val_loss": float(task.loss(outputs, task.y_val))}
        result.update({name: m.fn(outputs, task.y_val) for name, m in task.metrics.items()})
    model.train()
    return result


def fit(
    task: TensorTask, steps: int, lr: float, seed: int = 0
) -> tuple[dict[str, float], dict[str, float]]:
    """Adam for ``steps`` minibatches; the validation metrics before and after.

    One torch thread: these models are tiny, and on a busy 2-core machine intra-op threads
    made a 300-step digits run take 10+ s instead of 0.2 s.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(task, steps, lr, seed)
    finally:
        torch.set_num_threads(threads)


def _fit(
    task: TensorTask, steps: int, lr: float, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    torch.manual_seed(seed)
    model = task.make_model()
    before = evaluate(model, task)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(task.x_train), (task.batch_size,), generator=generator)
        loss = task.loss(model(task.x_train[idx]), task.y_train[idx])
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    return before, evaluate(model, task)


def assert_same_split(a: TensorTask, b: TensorTask) -> None:
    for name in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def assert_invalid(field: str, call: Callable[[], object], *words: str) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        call()
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(f"{field}: ")
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    return info.value


# --- digits -----------------------------------------------------------------------------------


def test_digits_mlp_data_and_model() -> None:
    task = digits_mlp()
    assert task.name == "digits-mlp"
    assert task.x_train.shape == (1438, 64) and task.x_val.shape == (359, 64)
    assert task.x_train.dtype == torch.float32 and task.y_train.dtype == torch.int64
    assert task.y_val.shape == (359,)
    assert float(task.x_train.min()) >= 0.0 and float(task.x_train.max()) <= 1.0
    assert set(task.y_val.tolist()) == set(range(10))
    assert task.default_metric == "val_accuracy"
    assert task.metric_directions() == {"val_loss": "minimize", "val_accuracy": "maximize"}
    assert_same_split(task, digits_mlp(hidden=32))
    torch.manual_seed(0)
    model = task.make_model()
    assert model(task.x_train[:5]).shape == (5, 10)
    assert model is not task.make_model()  # a fresh model every call


def test_digits_tensors_do_not_share_the_cached_arrays() -> None:
    task = digits_mlp()
    task.x_train.fill_(7.0)
    assert float(digits_mlp().x_train.max()) <= 1.0


def test_digits_mlp_learns() -> None:
    before, after = fit(digits_mlp(), steps=300, lr=1e-2)
    assert before["val_accuracy"] < 0.3
    assert after["val_accuracy"] > 0.9
    assert after["val_loss"] < 0.5 * before["val_loss"]


def test_digits_cnn_data_model_and_learning() -> None:
    task = digits_cnn(channels=8)
    assert task.name == "digits-cnn"
    assert task.x_train.shape == (1438, 1, 8, 8) and task.x_val.shape == (359, 1, 8, 8)
    assert_same_split(task, digits_cnn())
    assert torch.equal(task.x_val.reshape(-1, 64), digits_mlp().x_val)
    before, after = fit(task, steps=200, lr=1e-2)
    assert after["val_accuracy"] > 0.85
    assert after["val_loss"] < 0.5 * before["val_loss"]


def test_digits_cnn_output_shape() -> None:
    task = digits_cnn()
    assert task.make_model()(task.x_val[:3]).shape == (3, 10)


# --- charlm -----------------------------------------------------------------------------------


def test_charlm_data() -> None:
    task = charlm(chars=20_000, context=32)
    n_windows = 20_000 // 33
    n_val = round(n_windows * 0.1)
    assert task.x_train.shape == (n_windows - n_val, 32)
    assert task.x_val.shape == task.y_val.shape == (n_val, 32)
    assert task.x_train.dtype == task.y_train.dtype == torch.int64
    # Windows are consecutive, non-overlapping slices of the corpus; y is x shifted by one.
    data = corpus()
    assert bytes(task.x_train[0].tolist()) == data[:32]
    assert bytes(task.y_train[0].tolist()) == data[1:33]
    assert bytes(task.x_train[1].tolist()) == data[33:65]
    last = n_windows - 1
    assert bytes(task.y_val[-1].tolist()) == data[last * 33 + 1 : (last + 1) * 33]
    assert task.default_metric == "val_loss" and dict(task.metrics) == {}
    assert_same_split(task, charlm(chars=20_000, context=32, d_model=16))


def test_charlm_corpus_is_deterministic_python_source() -> None:
    data = corpus()
    assert len(data) >= 200_000
    assert data.startswith((Path(charlm_module.stdlib_dir()) / "argparse.py").read_bytes()[:200])
    assert list(charlm_module.CORPUS_MODULES) == sorted(charlm_module.CORPUS_MODULES)
    task = charlm()  # the defaults fit the corpus
    assert task.x_train.shape[1] == 64
    assert task.x_train.shape[0] + task.x_val.shape[0] == 200_000 // 65


def test_charlm_missing_stdlib_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(charlm_module, "stdlib_dir", lambda: tmp_path)
    charlm_module.corpus.cache_clear()
    try:
        with pytest.raises(Exception, match=r"argparse\.py.*missing"):
            charlm_module.corpus()
    finally:
        monkeypatch.undo()
        charlm_module.corpus.cache_clear()


def test_charlm_model_is_causal_with_the_right_shape() -> None:
    task = charlm(chars=20_000, context=32, d_model=32, layers=2, heads=4)
    torch.manual_seed(0)
    model = task.make_model()
    model.eval()
    x = task.x_train[:4]
    out = model(x)
    assert out.shape == (4, 32, 256)
    changed = x.clone()
    changed[:, 20:] = (changed[:, 20:] + 1) % 256
    with torch.no_grad():
        assert torch.allclose(model(changed)[:, :20], out[:, :20], atol=1e-5)
        assert not torch.allclose(model(changed)[:, 20:], out[:, 20:], atol=1e-5)
    loss = task.loss(out.detach(), task.y_train[:4])
    assert math.isfinite(float(loss)) and abs(float(loss) - math.log(256)) < 1.0


def test_charlm_learns() -> None:
    task = charlm(chars=20_000, context=32, d_model=32, layers=1, heads=4)
    before, after = fit(task, steps=150, lr=3e-3)
    assert before["val_loss"] > 5.0
    assert after["val_loss"] < before["val_loss"] - 1.5


# --- tabular ----------------------------------------------------------------------------------


def make_table(n: int = 300, seed: int = 1) -> dict[str, Any]:
    """Three features; a text label from a linear rule, an integer label and a float target."""
    rng = np.random.RandomState(seed)
    a, b, c = rng.normal(size=n), rng.normal(size=n) * 10 + 5, rng.uniform(size=n)
    score = a + 0.1 * (b - 5)
    return {
        "a": a,
        "b": b,
        "c": c,
        "animal": np.where(score > 0, "dog", "cat"),
        "digit": np.digitize(score, [-1.0, 0.0, 1.0]).astype(np.int64),
        "value": 2 * a - 0.3 * b + rng.normal(scale=0.1, size=n),
    }


def write_csv(path: Path, columns: Mapping[str, Iterable[object]]) -> Path:
    names = list(columns)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(zip(*(columns[name] for name in names), strict=True))
    return path


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "table.csv", make_table())


def test_tabular_csv_classification(table_csv: Path) -> None:
    task = tabular(table_csv, "animal")
    # The other label columns are numeric features too.
    assert task.x_train.shape == (240, 5) and task.x_val.shape == (60, 5)
    assert task.x_train.dtype == torch.float32 and task.y_train.dtype == torch.int64
    assert task.default_metric == "val_loss"
    assert task.metric_directions() == {"val_loss": "minimize", "val_accuracy": "maximize"}
    # Classes in sorted order: cat = 0, dog = 1; features standardized on the training rows.
    table = make_table()
    order = np.random.RandomState(0).permutation(300)
    expected = (table["animal"][order[60:]] == "dog").astype(np.int64)
    assert task.y_train.tolist() == expected.tolist()
    assert torch.allclose(task.x_train.mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(task.x_train.std(0, unbiased=False), torch.ones(5), atol=1e-4)
    assert_same_split(task, tabular(str(table_csv), "animal", hidden=8))
    assert task.make_model()(task.x_val[:7]).shape == (7, 2)


def test_tabular_csv_classification_learns(tmp_path: Path) -> None:
    table = make_table()
    del table["digit"], table["value"]
    task = tabular(write_csv(tmp_path / "t.csv", table), "animal", kind="classification")
    before, after = fit(task, steps=300, lr=1e-2)
    assert after["val_accuracy"] > 0.9
    assert after["val_loss"] < 0.5 * before["val_loss"]


def test_tabular_integer_target_is_classification(tmp_path: Path) -> None:
    table = make_table()
    del table["animal"]
    table_csv = write_csv(tmp_path / "digits.csv", table)
    task = tabular(table_csv, "digit", val_fraction=0.25)
    assert task.y_train.dtype == torch.int64 and len(task.x_val) == 75
    assert set(task.y_train.tolist()) == {0, 1, 2, 3}
    assert "val_accuracy" in task.metrics
    assert tabular(table_csv, "digit", kind="regression").y_train.dtype == torch.float32


def test_tabular_csv_regression_learns(tmp_path: Path) -> None:
    table = make_table()
    del table["digit"], table["animal"]
    task = tabular(write_csv(tmp_path / "r.csv", table), "value")
    assert task.y_train.shape == (240, 1) and task.y_train.dtype == torch.float32
    assert dict(task.metrics) == {} and task.default_metric == "val_loss"
    assert task.metric_directions() == {"val_loss": "minimize"}
    assert abs(float(task.y_train.mean())) < 1e-5  # standardized target
    assert task.make_model()(task.x_val[:3]).shape == (3, 1)
    before, after = fit(task, steps=300, lr=1e-2)
    assert before["val_loss"] > 0.5
    assert after["val_loss"] < 0.1


def test_tabular_npz_columns_and_matrix(tmp_path: Path) -> None:
    table = make_table()
    np.savez(tmp_path / "cols.npz", **table)
    by_columns = tabular(tmp_path / "cols.npz", "animal")
    assert by_columns.x_train.shape == (240, 5)
    assert_same_split(by_columns, tabular(tmp_path / "cols.npz", "animal"))
    features = np.stack([table["a"], table["b"], table["c"]], axis=1)
    np.savez(tmp_path / "matrix.npz", x=features, value=table["value"])
    by_matrix = tabular(tmp_path / "matrix.npz", "value")
    assert by_matrix.x_train.shape == (240, 3) and by_matrix.y_val.shape == (60, 1)
    assert by_matrix.loss is not by_columns.loss
    before, after = fit(by_matrix, steps=300, lr=1e-2)
    assert after["val_loss"] < 0.1 < before["val_loss"]


def test_tabular_csv_and_npz_agree(tmp_path: Path) -> None:
    table = make_table()
    del table["animal"]
    table_csv = write_csv(tmp_path / "table.csv", table)
    np.savez(tmp_path / "cols.npz", **table)
    from_csv = tabular(table_csv, "value")
    from_npz = tabular(tmp_path / "cols.npz", "value")
    for name in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.allclose(getattr(from_csv, name), getattr(from_npz, name), atol=1e-5)


def test_tabular_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = make_table()
    pq.write_table(pa.table({k: v.tolist() for k, v in table.items()}), tmp_path / "t.parquet")
    task = tabular(tmp_path / "t.parquet", "animal")
    assert task.x_train.shape == (240, 5) and task.y_train.dtype == torch.int64
    assert_same_split(task, tabular(tmp_path / "t.parquet", "animal"))


class FakeParquet:
    """Just enough of pyarrow.parquet's API (read_table, column_names, column().to_numpy())
    to exercise the reader's glue where pyarrow is not installed."""

    def __init__(self, columns: dict[str, list[object]]) -> None:
        self.columns = columns

    def read_table(self, path: object) -> FakeParquet:
        return self

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    def column(self, name: str) -> FakeParquet:
        self._current = name
        return self

    def to_numpy(self) -> np.ndarray:
        values = self.columns[self._current]
        numeric = all(isinstance(v, float) for v in values)
        return np.array(values, dtype=np.float64 if numeric else object)


def test_tabular_parquet_reader_glue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = make_table()
    columns: dict[str, list[object]] = {
        "a": table["a"].tolist(),
        "b": table["b"].tolist(),
        "animal": table["animal"].tolist(),
    }
    monkeypatch.setitem(sys.modules, "pyarrow", object())
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", FakeParquet(columns))
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    task = tabular(path, "animal")
    assert task.x_train.shape == (240, 2) and task.y_train.dtype == torch.int64
    columns["animal"][5] = None  # a null in a string column
    assert_invalid("task_options.target", lambda: tabular(path, "animal"), "row 6")
    columns["animal"][5] = "cat"
    columns["b"] = [*columns["b"][:7], "x", *columns["b"][8:]]
    assert_invalid("task_options.path", lambda: tabular(path, "animal"), "column 2", "row 8")


def test_tabular_parquet_without_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    assert_invalid("task_options.path", lambda: tabular(path, "y"), "pyarrow")


def bad_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def rows(n: int, line: Callable[[int], str]) -> str:
    return "".join(line(i) + "\n" for i in range(n))


@pytest.mark.parametrize(
    ("text", "target", "field", "words"),
    [
        ("a,y\n" + rows(20, lambda i: f"{i},{i % 2}"), "z", "task_options.target", ("2 columns",)),
        (
            "a,b,y\n" + rows(20, lambda i: f"{i},{'x' if i == 4 else i},{i % 2}"),
            "y",
            "task_options.path",
            ("column 2", "row 5", "holds text"),
        ),
        (
            "a,y\n" + rows(20, lambda i: f"{'' if i == 2 else i},{i % 2}"),
            "y",
            "task_options.path",
            ("column 1", "row 3", "empty"),
        ),
        (
            "a,y\n" + rows(20, lambda i: f"{'nan' if i == 6 else i},{i % 2}"),
            "y",
            "task_options.path",
            ("column 1", "row 7", "non-finite"),
        ),
        (
            "a,y\n" + rows(20, lambda i: f"{i},{'nan' if i == 3 else i % 2}"),
            "y",
            "task_options.target",
            ("row 4",),
        ),
        (
            "a,y\n" + rows(20, lambda i: f"{i},{'' if i == 3 else 'p'}"),
            "y",
            "task_options.target",
            ("row 4",),
        ),
        ("a,y\n" + rows(9, lambda i: f"{i},{i % 2}"), "y", "task_options.path", ("9 rows",)),
        ("a,y\n" + rows(20, lambda i: f"{i},{i % 2},3"), "y", "task_options.path", ("3 fields",)),
        ("y\n" + rows(20, lambda i: f"{i % 2}"), "y", "task_options.path", ("no feature",)),
        ("a,y\n" + rows(20, lambda i: f"{i},1"), "y", "task_options.target", ("single class",)),
        ("", "y", "task_options.path", ("empty",)),
        ("a,a,y\n" + rows(20, lambda i: f"{i},{i},1"), "y", "task_options.path", ("repeats",)),
        ("a,y\n" + rows(60, lambda i: f"{i},name{i}"), "y", "task_options.target", ("60",)),
    ],
)
def test_tabular_bad_csv(
    tmp_path: Path, text: str, target: str, field: str, words: tuple[str, ...]
) -> None:
    path = bad_csv(tmp_path, text)
    assert_invalid(field, lambda: tabular(path, target), *words)


def test_tabular_kind_mismatches(tmp_path: Path) -> None:
    text_labels = bad_csv(tmp_path, "a,y\n" + rows(20, lambda i: f"{i},{'pq'[i % 2]}"))
    assert_invalid(
        "task_options.target", lambda: tabular(text_labels, "y", kind="regression"), "holds text"
    )
    floats = tmp_path / "f.csv"
    floats.write_text("a,y\n" + rows(20, lambda i: f"{i},{i / 3}"))
    assert tabular(floats, "y").y_train.dtype == torch.float32  # auto: regression
    assert_invalid(
        "task_options.target", lambda: tabular(floats, "y", kind="classification"), "integer"
    )
    many = tmp_path / "many.csv"
    many.write_text("a,y\n" + rows(120, lambda i: f"{i},{i}"))
    assert tabular(many, "y").y_train.dtype == torch.float32  # 120 distinct integers: regression
    assert int(tabular(many, "y", kind="classification").y_train.max()) <= 119


SECRET = "s3cret"


@pytest.mark.parametrize(
    ("text", "target"),
    [
        (f"{SECRET}_a,y\n" + rows(20, lambda i: f"{i},{i % 2}"), "nope"),  # not a column
        ("a,y\n" + rows(20, lambda i: f"{SECRET if i == 4 else i},{i % 2}"), "y"),  # text
        (f"{SECRET},{SECRET},y\n" + rows(20, lambda i: f"{i},{i},1"), "y"),  # repeated name
        ("a,y\n" + rows(20, lambda i: f"{i},{SECRET}"), "y"),  # a single class
        ("a,y\n" + rows(20, lambda i: f"{i},{i + 0.5}"), "y"),  # fractions as classes
    ],
)
def test_tabular_errors_never_quote_the_file(tmp_path: Path, text: str, target: str) -> None:
    """The file may be one the client could not read otherwise: its messages (kept in the
    study's error, shown over HTTP) name positions and rows, never names or values."""
    path = bad_csv(tmp_path, text)
    kind = "classification" if "0.5" in text else "auto"
    with pytest.raises(InvalidInputError) as caught:
        tabular(path, target, kind=kind)
    assert SECRET not in str(caught.value) and ".5" not in str(caught.value)


def test_tabular_bad_files(tmp_path: Path) -> None:
    assert_invalid("task_options.path", lambda: tabular(tmp_path / "none.csv", "y"), "no such")
    (tmp_path / "data.txt").write_text("a,y\n1,2\n")
    assert_invalid("task_options.path", lambda: tabular(tmp_path / "data.txt", "y"), "'.txt'")
    (tmp_path / "latin1.csv").write_bytes(b"a,y\n" + b"\xe9,1\n" * 20)
    assert_invalid("task_options.path", lambda: tabular(tmp_path / "latin1.csv", "y"), "UTF-8")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    assert_invalid("task_options.path", lambda: tabular(tmp_path / "junk.npz", "y"), "npz")
    np.savez(tmp_path / "two_d.npz", a=np.zeros((20, 2)), y=np.zeros(20))
    assert_invalid("task_options.path", lambda: tabular(tmp_path / "two_d.npz", "y"), "array 1")
    np.savez(tmp_path / "x.npz", x=np.zeros((20, 2)), y=np.arange(20) % 2)
    assert_invalid("task_options.target", lambda: tabular(tmp_path / "x.npz", "t"), "2 arrays")
    np.savez(tmp_path / "len.npz", x=np.zeros((20, 2)), y=np.arange(19) % 2)
    assert_invalid("task_options.path", lambda: tabular(tmp_path / "len.npz", "y"), "19")
    np.savez(tmp_path / "cols.npz", a=np.arange(20.0), y=np.arange(21) % 2)
    assert_invalid("task_options.path", lambda: tabular(tmp_path / "cols.npz", "y"), "length")
    nan = np.arange(20.0)
    nan[11] = np.nan
    np.savez(tmp_path / "nan.npz", a=nan, y=np.arange(20) % 2)
    assert_invalid("task_options.path", lambda: tabular(tmp_path / "nan.npz", "y"), "row 12")
    np.savez(tmp_path / "obj.npz", a=np.array([{}] * 20, dtype=object), y=np.arange(20) % 2)
    assert_invalid("task_options.path", lambda: tabular(tmp_path / "obj.npz", "y"), "npz")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"kind": "ranking"}, "task_options.kind"),
        ({"val_fraction": 1.0}, "task_options.val_fraction"),
        ({"val_fraction": "0.2"}, "task_options.val_fraction"),
        ({"hidden": 0}, "task_options.hidden"),
        ({"hidden": 16.0}, "task_options.hidden"),
        ({"batch_size": True}, "task_options.batch_size"),
        ({"target": ""}, "task_options.target"),
        ({"path": 3}, "task_options.path"),
    ],
)
def test_tabular_bad_options(table_csv: Path, options: dict[str, object], field: str) -> None:
    merged = {"path": str(table_csv), "target": "animal", **options}
    assert_invalid(field, lambda: load_task("tabular", merged))


# --- the registry -----------------------------------------------------------------------------


def test_load_task_builtins(table_csv: Path) -> None:
    assert load_task("digits-mlp", {"hidden": 16}).make_model()(torch.zeros(2, 64)).shape == (2, 10)
    assert load_task("digits-cnn", {}).name == "digits-cnn"
    lm = load_task("charlm", {"chars": 5_000, "context": 16, "d_model": 16, "layers": 1})
    assert lm.x_train.shape[1] == 16
    task = load_task("tabular", {"path": str(table_csv), "target": "animal", "kind": "auto"})
    assert task.name == "tabular"


def test_builtin_tasks_match_the_catalog(table_csv: Path) -> None:
    tasks = {
        "digits-mlp": load_task("digits-mlp", {}),
        "digits-cnn": load_task("digits-cnn", {}),
        "charlm": load_task("charlm", {"chars": 5_000}),
        "tabular": load_task("tabular", {"path": str(table_csv), "target": "animal"}),
    }
    assert set(tasks) == set(BUILTIN_TASKS)
    for name, task in tasks.items():
        info = BUILTIN_TASKS[name]
        assert task.name == name
        assert task.default_metric == info.default_metric
        assert task.metric_directions() == info.metrics


@pytest.mark.parametrize(
    ("name", "options", "field", "words"),
    [
        ("digits-mlp", {"hiddne": 3}, "task_options.hiddne", ("hidden, batch_size",)),
        ("charlm", {"dropout": 0.1}, "task_options.dropout", ("chars, context",)),
        ("digits-cnn", {"channels": "16"}, "task_options.channels", ("integer", "'16'")),
        ("digits-mlp", {"batch_size": -1}, "task_options.batch_size", ("at least 1",)),
        ("charlm", {"d_model": 30}, "task_options.d_model", ("divisible",)),
        ("charlm", {"chars": 10_000_000}, "task_options.chars", ("corpus has",)),
        ("charlm", {"chars": 100}, "task_options.chars", ("windows",)),
        ("tabular", {"target": "y"}, "task_options.path", ("required",)),
        ("tabular", {"path": "x.csv"}, "task_options.target", ("required",)),
        ("no-such-task", {}, "task", ("digits-mlp",)),
        ("python:nomodule", {}, "task", ("python:package.module:factory",)),
        ("digits-mlp", {1: 2}, "task_options", ("identifiers",)),
    ],
)
def test_load_task_errors(
    name: str, options: dict[str, object], field: str, words: tuple[str, ...]
) -> None:
    assert_invalid(field, lambda: load_task(name, options), *words)


def test_user_task_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    task = load_task("python:examples.user_task:make_task", {})
    assert task.x_train.shape == (800, 2) and task.x_val.shape == (200, 2)
    assert task.y_train.dtype == torch.int64 and task.default_metric == "val_accuracy"
    assert_same_split(task, load_task("python:examples.user_task:make_task", {}))
    small = load_task("python:examples.user_task:make_task", {"n_samples": 300, "noise": 0.1})
    assert len(small.x_train) + len(small.x_val) == 300
    before, after = fit(task, steps=400, lr=1e-2)
    assert after["val_accuracy"] > 0.9 > before["val_accuracy"]
    assert_invalid(
        "task_options.n_samples",
        lambda: load_task("python:examples.user_task:make_task", {"n_samples": 5}),
    )
    assert_invalid(
        "task_options",
        lambda: load_task("python:examples.user_task:make_task", {"samples": 5}),
        "samples",
    )


USER_MODULE = """
from lrsearch.tasks.base import TensorTask

not_callable = 3

def not_a_task():
    return {"x": 1}

def bad_metric():
    import torch
    t = torch.zeros(4, 2)
    return TensorTask("bad", lambda: torch.nn.Linear(2, 2), t, t, t, t, lambda o, y: o.sum(),
                      default_metric="val_accuracy")
"""


@pytest.mark.parametrize(
    ("task", "words"),
    [
        ("python:lrsearch_no_such_module:make", ("lrsearch_no_such_module", "No module")),
        ("python:broken_user_tasks:make", ("broken_user_tasks", "invalid syntax")),
        ("python:good_user_tasks:missing", ("no attribute 'missing'",)),
        ("python:good_user_tasks:not_callable", ("not a function",)),
        ("python:good_user_tasks:not_a_task", ("returned dict", "not a TensorTask")),
        ("python:good_user_tasks:bad_metric", ("default_metric", "val_accuracy")),
    ],
)
def test_user_task_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task: str, words: tuple[str, ...]
) -> None:
    (tmp_path / "good_user_tasks.py").write_text(USER_MODULE)
    (tmp_path / "broken_user_tasks.py").write_text("def make(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "good_user_tasks", raising=False)
    assert_invalid("task", lambda: load_task(task, {}), *words)


def test_catalog_and_registry_stay_light() -> None:
    code = (
        "import sys, lrsearch.tasks, lrsearch.spec.catalog; heavy = 'torch' in sys.modules; "
        "import lrsearch.tasks.registry; print(heavy, 'sklearn' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
