"""numba is optional: nothing imports it before a compiled kernel is needed, every module and
every fit works without it (with the same results), and compiling is rare and announced."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# the modules that hold compiled code: they import numba (and need it), nothing else does
COMPILED_MODULES = {
    "gdlab.engines.fastepoch",
    "gdlab.engines.mlp_epoch",
    "gdlab.engines.kernels._numba",
    "gdlab.engines.kernels._linear_nb",
    "gdlab.engines.kernels._linear_f_nb",
    "gdlab.engines.kernels._linear_small_nb",
    "gdlab.engines.kernels._pointwise_nb",
    "gdlab.engines.kernels._softmax_nb",
    "gdlab.engines.kernels._formulas_nb",
}
BLOCK = 'import sys\nsys.modules["numba"] = None\nsys.modules["llvmlite"] = None\n'
IMPORT_ALL = """
import importlib, json, pkgutil, sys
import gdlab
COMPILED = set(json.loads(sys.argv[1]))
names = [m.name for m in pkgutil.walk_packages(gdlab.__path__, "gdlab.")
         if not m.name.endswith("__main__")]
failed = []
for name in names:
    if name in COMPILED:
        continue
    importlib.import_module(name)
for name in sorted(COMPILED):
    try:
        importlib.import_module(name)
    except ImportError:
        failed.append(name)
print(json.dumps({"modules": names, "compiled_failed": failed,
                  "numba": sorted(k for k in sys.modules
                                  if k.split(".")[0] in ("numba", "llvmlite")
                                  and sys.modules[k] is not None)}))
"""
FITS = """
import json, warnings
import numpy as np
from gdlab import LinearRegression, LogisticRegression, SoftmaxRegression
from gdlab.core.engine import get_engine
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.standard_normal((300, 5))
z = X @ rng.standard_normal(5)
targets = {"LinearRegression": z, "LogisticRegression": (z > 0).astype(int),
           "SoftmaxRegression": np.digitize(z, [-1.0, 0.0, 1.0])}
out = {"auto_engine": repr(get_engine("auto"))}
for cls in (LinearRegression, LogisticRegression, SoftmaxRegression):
    for bs in (None, 32):
        est = cls(batch_size=bs, epochs=12, tol=None, random_state=1, lr=0.05)
        if cls is LinearRegression:
            est.set_params(precompute=False)
        est.fit(X, targets[cls.__name__])
        out[f"{cls.__name__}-{bs}"] = [est.coef_.ravel().tolist(),
                                        np.ravel(est.intercept_).tolist()]
print(json.dumps(out))
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    full = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]), **(env or {}))
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, env=full, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_numba_is_an_extra_not_a_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("numba")]
    assert any(d.startswith("numba") for d in project["optional-dependencies"]["fast"])
    assert "gdlab[fast]" in project["optional-dependencies"]["test"]


def test_importing_any_module_never_imports_numba() -> None:
    # every module but the compiled ones, in one fresh process: numba is not loaded
    code = IMPORT_ALL.replace("for name in sorted(COMPILED):", "for name in []:")
    out = json.loads(_python(code, json.dumps(sorted(COMPILED_MODULES))))
    assert COMPILED_MODULES <= set(out["modules"])
    assert len(out["modules"]) > 60
    assert out["numba"] == []


def test_every_module_imports_with_numba_blocked() -> None:
    # sys.modules["numba"] = None: every module imports; only the compiled kernels' modules
    # raise ImportError (fastepoch and _numba set HAVE_NUMBA = False instead)
    out = json.loads(_python(BLOCK + IMPORT_ALL, json.dumps(sorted(COMPILED_MODULES))))
    assert out["numba"] == []
    assert set(out["compiled_failed"]) == COMPILED_MODULES - {
        "gdlab.engines.fastepoch",
    "gdlab.engines.mlp_epoch", "gdlab.engines.kernels._numba"}


@pytest.mark.parametrize("how", ["import block", "GDLAB_NO_NUMBA=1"])
def test_compiled_engine_unavailable_without_numba(how: str) -> None:
    # numba blocked, or present but switched off by the environment (as in subprocesses of
    # the suite's run without numba)
    code = (BLOCK if how == "import block" else "") + """
from gdlab.core.engine import get_engine
from gdlab.engines import kernels
import numpy as np
assert get_engine("auto") is None and not kernels.HAVE_NUMBA
X = np.random.default_rng(0).standard_normal((20_000, 60))  # above the fused threshold
loss, gw, gb = kernels.linear_loss_grad(X, X[:, 0], np.ones(60), 0.5)  # blocked NumPy path
ref = kernels.plain_linear_loss_grad(X, X[:, 0], np.ones(60), 0.5)
assert abs(loss - ref[0]) <= 1e-12 * ref[0]
try:
    get_engine("compiled")
except ValueError as exc:
    print(exc)
"""
    code += 'import sys\nprint("numba loaded:", sys.modules.get("numba") is not None)\n'
    out = _python(code, env={"GDLAB_NO_NUMBA": "1"} if how != "import block" else None)
    assert "numba is not installed" in out and "pip install gdlab[fast]" in out
    assert "numba loaded: False" in out


@pytest.mark.numba
def test_fits_without_numba_equal_fits_with_the_compiled_engine(monkeypatch) -> None:
    # the same six fits in a process without numba and here with the compiled engine (fused
    # full-batch kernels from 1 entry, compiled epochs for any size): the fitted parameters
    # equal to 1e-9 relative (to the norm of the parameter vector: Adam divides each step by
    # the gradient's scale, so a coordinate whose gradient is ~0 carries the other ones' ulps)
    from gdlab.engines import fastepoch, kernels

    for name in ("FUSED_MIN_SIZE", "FUSED_MIN_SIZE_NARROW", "FUSED_MIN_SIZE_SOFTMAX"):
        monkeypatch.setattr(kernels, name, 1)
    epochs, calls = fastepoch.FastEpoch.run_epoch, []
    monkeypatch.setattr(fastepoch.FastEpoch, "run_epoch",
                        lambda self, *a: calls.append(1) or epochs(self, *a))
    without = json.loads(_python(BLOCK + FITS))
    assert without.pop("auto_engine") == "None"
    here: dict[str, object] = {}
    exec(compile(FITS.replace("print(json.dumps(out))", ""), "fits", "exec"), here)
    with_numba = here["out"]
    assert "CompiledEngine" in with_numba.pop("auto_engine")  # type: ignore[union-attr]
    assert calls, "the compiled epochs did not run"
    assert set(with_numba) == set(without)  # type: ignore[arg-type]
    for key, (coef, intercept) in without.items():
        got = np.concatenate(with_numba[key])  # type: ignore[index]
        want = np.concatenate([coef, intercept])
        assert np.linalg.norm(got - want) <= 1e-9 * np.linalg.norm(want), key


def _csv(path: Path, rows: int) -> Path:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.standard_normal(rows)
    lines = ["a,b,c,d,y"] + [",".join(f"{v:.5f}" for v in (*r, t)) for r, t in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


FIT_CLI = """
import sys
from gdlab.cli import main
code = main(["fit", sys.argv[1], "--target", "y", "--json"])
print("numba loaded:", "numba" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def test_small_fit_in_a_new_process_never_loads_numba(tmp_path: Path) -> None:
    # `gdlab fit` on 333 rows (mini-batches of 256, up to 200 epochs): cheaper in Python
    # than importing numba, whatever numba's cache holds
    csv = _csv(tmp_path / "small.csv", 333)
    full = dict(os.environ, GDLAB_COMPILE="auto",
                PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", FIT_CLI, str(csv)], capture_output=True,
                          text=True, cwd=ROOT, env=full, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "numba loaded: False" in proc.stderr
    assert "compiling" not in proc.stderr
    assert json.loads(proc.stdout)["metrics"]["test"]["r2"] > 0.95


class _Config:
    def __init__(self, epochs: int, batch_size: int | None) -> None:
        self.epochs, self.batch_size = epochs, batch_size


@pytest.mark.numba
def test_compiled_epochs_only_when_they_repay_loading_or_compiling(monkeypatch, caplog) -> None:
    from gdlab.core.loop import ModelProblem, TrainConfig
    from gdlab.core.models import LinearModel
    from gdlab.core.optim import Adam
    from gdlab.engines import _compiler, compiled

    monkeypatch.setattr(compiled, "COMPILE", "auto")
    monkeypatch.setattr(compiled, "_epoch_loaded", lambda: False)  # a new process
    monkeypatch.setattr(_compiler, "_ANNOUNCED", set())
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 4))
    problem = ModelProblem.from_arrays(LinearModel(n_features=4), X, X[:, 0], engine="numpy")
    engine = compiled.CompiledEngine()

    def runner(epochs: int, cached: bool) -> object:
        monkeypatch.setattr(compiled, "is_cached", lambda d: cached)
        monkeypatch.setattr(_compiler, "is_cached", lambda d: cached)
        config = TrainConfig(optimizer=Adam(), batch_size=256, epochs=epochs, tol=None)
        return engine.epoch_runner(problem, Adam(), config)

    # 8 batches x 200 epochs = 1600 steps, 0.24 s of Python: less than loading numba
    assert compiled._max_steps(problem, _Config(200, 256)) == 1600
    assert runner(200, cached=True) is None
    # 8 x 1000 = 8000 steps (1.2 s): repays loading a cached kernel, not compiling one
    with caplog.at_level(logging.INFO, logger="gdlab"):
        assert runner(1000, cached=True) is not None
        assert not [r for r in caplog.records if "compiling" in r.getMessage()]
        assert runner(1000, cached=False) is None
        # 8 x 10000 = 80000 steps (12 s): compiling repays, and says so once
        assert runner(10_000, cached=False) is not None
        assert runner(10_000, cached=False) is not None
    notes = [r.getMessage() for r in caplog.records if "compiling" in r.getMessage()]
    assert len(notes) == 1 and "mini-batch epoch" in notes[0] and "cached in" in notes[0]
    # GDLAB_COMPILE=always: any run the compiled epoch serves
    monkeypatch.setattr(compiled, "COMPILE", "always")
    assert runner(1, cached=False) is not None


@pytest.mark.numba
def test_fused_kernel_compiled_only_for_large_data_when_the_cache_is_cold(monkeypatch,
                                                                         caplog) -> None:
    from gdlab.core.models import LinearModel
    from gdlab.engines import _compiler, compiled

    monkeypatch.setattr(compiled, "COMPILE", "auto")
    monkeypatch.setattr(_compiler, "_ANNOUNCED", set())
    monkeypatch.setattr(compiled, "is_cached", lambda d: False)
    monkeypatch.setattr(_compiler, "is_cached", lambda d: False)
    model = LinearModel(n_features=5)
    X = np.zeros((40, 5))  # 200 entries
    with caplog.at_level(logging.INFO, logger="gdlab"):
        assert not compiled.CompiledEngine()._kernel_ready(model, X, threshold=100)
        assert compiled.CompiledEngine()._kernel_ready(model, X, threshold=20)  # 10x: big
    notes = [r.getMessage() for r in caplog.records]
    assert notes == [notes[0]] and notes[0].startswith("compiling the fused kernels (once;")
    monkeypatch.setattr(compiled, "is_cached", lambda d: True)
    assert compiled.CompiledEngine()._kernel_ready(model, X, threshold=100)  # cached


def test_the_command_line_prints_the_library_notes(capsys) -> None:
    from gdlab.cli import _show_library_notes

    _show_library_notes()
    _show_library_notes()  # one handler, however often main() runs
    logging.getLogger("gdlab").info("compiling the fused kernels (once; cached in %s)", "/x")
    assert capsys.readouterr().err == "gdlab: compiling the fused kernels (once; cached in /x)\n"
