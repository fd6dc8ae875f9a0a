"""The fast, cached nutpie callbacks (``carepaths.model._nutpie``).

The callbacks only unpack nutpie's data record, call PyTensor's compiled log-density and
copy its gradient out, so they are checked bit for bit against that function called from
Python; and the draws of a fit must not depend on whether the callbacks were compiled in
this process or loaded from cache (checked in two fresh processes sharing one empty
compile directory).
"""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import carepaths
from carepaths import MediationModel
from carepaths.model._nutpie import compile_model, nutpie_supported, record_word_layout

_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


def test_locked_nutpie_takes_the_fast_path(monkeypatch):
    """The nutpie that uv.lock installs is supported, and compile_model uses the fast callbacks.

    If this fails after a nutpie upgrade, every fit pays nutpie's slow wrapper again
    (25-30 s): re-check carepaths.model._nutpie against the new nutpie, extend
    SUPPORTED_NUTPIE and the bound in pyproject.toml.
    """
    import nutpie

    import carepaths.model._nutpie as nc

    assert nutpie_supported(), f"nutpie {nutpie.__version__} is not in SUPPORTED_NUTPIE {nc.SUPPORTED_NUTPIE}"
    seen = []

    def fake_compile(model, **kw):
        import nutpie.compile_pymc as stock

        seen.append((stock._make_c_logp_func, stock._make_c_expand_func, kw))
        return "compiled"

    monkeypatch.setattr(nutpie, "compile_pymc_model", fake_compile)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no SlowCompileWarning on the fast path
        assert compile_model(object()) == "compiled"
    [(logp, expand, kw)] = seen
    assert logp is nc._make_logp_callback and expand is nc._make_expand_callback
    assert kw == {"backend": "numba", "cache": True}


def test_unsupported_nutpie_falls_back_and_warns_once(monkeypatch):
    import nutpie

    import carepaths.model._nutpie as nc
    from carepaths.exceptions import SlowCompileWarning

    calls = []
    monkeypatch.setattr(nc, "nutpie_supported", lambda: False)
    monkeypatch.setattr(nc, "_warned", False)
    monkeypatch.setattr(nutpie, "compile_pymc_model", lambda model, **kw: calls.append(kw) or "stock")
    with pytest.warns(SlowCompileWarning, match=rf"nutpie {re.escape(nutpie.__version__)} .*25-30 s more per fit"):
        assert compile_model(object()) == "stock"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second fit of the process does not warn again
        assert compile_model(object()) == "stock"
    assert calls == [{"backend": "numba"}, {"backend": "numba"}]


def test_record_layout_finds_each_address_and_shape():
    import pytensor
    from nutpie.compile_pymc import make_user_data

    arrays = {
        "k0": np.arange(6.0).reshape(2, 3),
        "k1": np.arange(5, dtype=np.int64),
        "k2": np.array(3.5),
        "k3": np.zeros((4, 1, 2)),
    }
    user_data = make_user_data({pytensor.shared(a): name for name, a in arrays.items()}, arrays)
    words = np.frombuffer(user_data.tobytes(), dtype=np.uint64)
    n_words, layout = record_word_layout(user_data.dtype, ["k3", "k0", "k2", "k1"])
    assert n_words == len(words)
    for key, (address_word, shape_words) in zip(["k3", "k0", "k2", "k1"], layout):
        assert words[address_word] == arrays[key].ctypes.data
        assert tuple(int(words[w]) for w in shape_words) == arrays[key].shape


@pytest.fixture(scope="module")
def compiled():
    spec = carepaths.load_spec("five_mechanisms")
    sim = carepaths.simulate(spec, n_persons=40, n_waves=3, seed=2, mc_persons=50)
    return compile_model(MediationModel(spec, sim.panel()).model)


def _callback_logp(compiled, x):
    grad, logp = np.zeros(compiled.n_dim), np.zeros(1)
    code = compiled.compiled_logp_func.ctypes(
        compiled.n_dim, x.ctypes.data_as(_DOUBLE_P), grad.ctypes.data_as(_DOUBLE_P),
        logp.ctypes.data_as(_DOUBLE_P), ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    return code, logp[0], grad


def test_logp_callback_equals_the_pytensor_function_bit_for_bit(compiled):
    assert len(compiled.logp_func.get_shared()) > 5  # the data really travel through nutpie's record
    rng = np.random.default_rng(0)
    for scale in (0.0, 0.1, 0.5, 2.0):
        x = rng.normal(scale=scale, size=compiled.n_dim)
        code, logp, grad = _callback_logp(compiled, x)
        want_logp, want_grad = compiled.logp_func(x)
        assert code == 0
        assert logp == float(want_logp)
        np.testing.assert_array_equal(grad, want_grad)


def test_logp_callback_reports_a_non_finite_density(compiled):
    code, _, _ = _callback_logp(compiled, np.full(compiled.n_dim, np.nan))
    assert code in (3, 4)  # nutpie's codes for a non-finite gradient / log-density


def test_expand_callback_equals_the_pytensor_function(compiled):
    x = np.random.default_rng(1).normal(scale=0.3, size=compiled.n_dim)
    out = np.zeros(compiled.n_expanded)
    code = compiled.compiled_expand_func.ctypes(
        compiled.n_dim, compiled.n_expanded, x.ctypes.data_as(_DOUBLE_P), out.ctypes.data_as(_DOUBLE_P),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    assert code == 0
    (want,) = compiled.expand_func(x)
    np.testing.assert_array_equal(out, want)


_EVALUATIONS_SCRIPT = textwrap.dedent(
    """
    import ctypes, hashlib
    import numpy as np
    import carepaths
    from carepaths import MediationModel
    from carepaths.model._nutpie import compile_model
    spec = carepaths.load_spec("five_mechanisms")
    sim = carepaths.simulate(spec, n_persons=40, n_waves=3, seed=2, mc_persons=50)
    compiled = compile_model(MediationModel(spec, sim.panel()).model)
    P = ctypes.POINTER(ctypes.c_double)
    rng = np.random.default_rng(0)
    x, results = np.zeros(compiled.n_dim), []
    for i in range(3000):
        x = x + rng.normal(scale=0.05, size=compiled.n_dim)
        y = x * (0.01, 0.1, 1.0, 3.0)[i % 4]
        grad, logp = np.zeros(compiled.n_dim), np.zeros(1)
        code = compiled.compiled_logp_func.ctypes(
            compiled.n_dim, y.ctypes.data_as(P), grad.ctypes.data_as(P), logp.ctypes.data_as(P),
            ctypes.c_void_p(compiled.user_data.ctypes.data))
        results.append(np.concatenate([[code], logp, grad]))
    print(hashlib.sha256(np.array(results).tobytes()).hexdigest())
    """
)


def test_callbacks_compute_the_same_bits_whether_compiled_or_loaded_from_cache(compiled):
    """The log-density must not depend on whether the callback was compiled here or loaded.

    NUTS amplifies last-bit differences, so if it did, the same seed would give different
    draws on a fit that compiled the callbacks and on one that loaded them. The
    ``compiled`` fixture has put this model's PyTensor function and callbacks in the
    compile cache; this test removes the two callbacks' cache entries (only those: their
    file names carry their key), so a fresh process compiles them and a second one loads
    them, and both evaluate the log-density and gradient at the same 3,000 points of a
    random walk. Without ``_load_inner`` the two differed at about 2% of the points.
    """
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, NUMBA_CACHE_PATH

    keys = [CACHED_SRC_FUNCTIONS[f._pyfunc] for f in (compiled.compiled_logp_func, compiled.compiled_expand_func)]

    def entries():
        return [path for key in keys for path in NUMBA_CACHE_PATH.glob(f"*{key}*")]

    def evaluations():
        out = subprocess.run([sys.executable, "-c", _EVALUATIONS_SCRIPT], capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout.strip().splitlines()[-1]

    assert len(entries()) >= 4  # index and data files of both callbacks
    for path in entries():
        path.unlink()
    compiled_here = evaluations()
    assert len(entries()) >= 4, "the first process should have cached the callbacks"
    loaded = evaluations()
    assert compiled_here == loaded
