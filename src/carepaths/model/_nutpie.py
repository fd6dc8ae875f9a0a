"""Compile a PyMC model for nutpie with C callbacks that compile fast and are cached on disk.

nutpie (0.16) turns the model's log-density into a ``numba.cfunc`` that nutpie's Rust
sampler calls. PyTensor caches the Numba function that evaluates the log-density and its
gradient, but nutpie's ``cfunc`` wrapper around it is compiled afresh in every process,
and it was the largest part of a fit's start-up: 25-32 s for the default spec. Three
things in that wrapper made it slow, and this module replaces the wrapper (only the
wrapper: the log-density function, the data layout and the sampler are nutpie's and
PyTensor's own):

1. Each shared data array was unpacked through its own overloaded function and reshaped
   with ``ndarray.reshape``, whose error paths compile Numba's string formatting.
   Here the arrays are views built with ``numba.carray`` straight from the addresses
   and shapes in nutpie's ``user_data`` record.
2. The gradient was copied with ``out[...] = grad``, whose broadcasting checks compile
   more string formatting. Here it is a loop that also checks finiteness.
3. The wrapper could not be cached (it closed over the data arrays). Here it is generated
   source registered with PyTensor's Numba cache locator under a key that hashes the
   source and the cache key of the PyTensor function it calls, so a second process (or
   a second dataset of the same spec) loads it from PyTensor's cache directory.

The callbacks return what the PyTensor function returns, bit for bit
(``tests/test_nutpie_compile.py`` checks them against that function called from Python,
and checks that a callback compiled in a process and one loaded from cache compute the
same bits; when this was written, draws also matched those of nutpie's own wrapper).
If the installed nutpie does not have the private functions this relies on,
:func:`compile_model` falls back to ``nutpie.compile_pymc_model`` unchanged and warns once
per process (:class:`~carepaths.exceptions.SlowCompileWarning`), naming the version and
the cost.
"""

from __future__ import annotations

import hashlib
import warnings
from contextlib import contextmanager
from typing import Any

import numpy as np

from carepaths.exceptions import SlowCompileWarning

#: nutpie versions whose private compile functions this module was written against
#: (pyproject.toml bounds nutpie to them).
SUPPORTED_NUTPIE = ("0.16.",)
#: The most arguments a generated call passes one by one (see ``_generated_callback``).
_MAX_LITERAL_ARGS = 25
_warned = False

_LOGP_SRC = """
def carepaths_logp_cfunc(dim, x_, out_, logp_, user_data_):
    words = numba.carray(user_data_, (N_WORDS,), np.uint64)
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (dim,))
    logp = numba.carray(logp_, (1,))
{unpack}
    try:
        logp_val, grad = inner({call})
    except Exception:  # noqa: BLE001
        return 1
    value = logp_val[()]
    logp[0] = value
    finite = True
    for i in range(dim):
        g = grad[i]
        out[i] = g
        if not np.isfinite(g):
            finite = False
    if not finite:
        return 3
    if not np.isfinite(value):
        return 4
    return 0
"""

_EXPAND_SRC = """
def carepaths_expand_cfunc(dim, expanded, x_, out_, user_data_):
    words = numba.carray(user_data_, (N_WORDS,), np.uint64)
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (expanded,))
{unpack}
    try:
        (values,) = inner({call})
    except Exception:  # noqa: BLE001
        return -2
    if values.shape[0] != expanded:
        return -1
    for i in range(expanded):
        out[i] = values[i]
    return 0
"""


def nutpie_supported() -> bool:
    """Whether the installed nutpie has the private compile functions this module replaces.

    Returns
    -------
    bool
        True for the nutpie versions in :data:`SUPPORTED_NUTPIE` whose
        ``nutpie.compile_pymc`` module has ``_make_c_logp_func`` and
        ``_make_c_expand_func``.
    """
    import nutpie
    import nutpie.compile_pymc as stock

    return (
        nutpie.__version__.startswith(SUPPORTED_NUTPIE)
        and hasattr(stock, "_make_c_logp_func")
        and hasattr(stock, "_make_c_expand_func")
        and hasattr(stock, "address_as_void_pointer")
    )


def compile_model(model) -> Any:
    """Compile a PyMC model for ``nutpie.sample`` with the fast, cached C callbacks.

    Parameters
    ----------
    model : pymc.Model
        The model to compile.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        What ``nutpie.compile_pymc_model(model, backend="numba")`` returns, with the
        log-density and expansion callbacks built by this module.
    """
    import nutpie

    global _warned
    if not nutpie_supported():
        if not _warned:  # once per process: every later fit pays the same
            _warned = True
            warnings.warn(
                f"nutpie {nutpie.__version__} is not a version carepaths' fast compile path supports "
                f"({', '.join(v + 'x' for v in SUPPORTED_NUTPIE)}): every fit compiles with nutpie's own "
                "wrapper, about 25-30 s more per fit and per process. Install a supported nutpie "
                "(the versions pyproject.toml allows) to get the fast path back.",
                SlowCompileWarning,
                stacklevel=3,
            )
        return nutpie.compile_pymc_model(model, backend="numba")
    with _fast_callbacks():
        return nutpie.compile_pymc_model(model, backend="numba", cache=True)


@contextmanager
def _fast_callbacks():
    """Swap nutpie's two callback builders for this module's while a model compiles."""
    import nutpie.compile_pymc as stock

    saved = stock._make_c_logp_func, stock._make_c_expand_func
    stock._make_c_logp_func = _make_logp_callback
    stock._make_c_expand_func = _make_expand_callback
    try:
        with warnings.catch_warnings():
            # A wrapper whose PyTensor function has no cache key cannot be cached either;
            # numba says so once per compile, which is noise here.
            warnings.filterwarnings("ignore", message="Cannot cache compiled function")
            yield
    finally:
        stock._make_c_logp_func, stock._make_c_expand_func = saved


def _make_logp_callback(n_dim, logp_fn, user_data, shared_keys, shared_data):
    """Replacement for ``nutpie.compile_pymc._make_c_logp_func`` (same arguments and result)."""
    import numba

    signature = numba.types.int64(
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )
    return _generated_callback(_LOGP_SRC, "carepaths_logp_cfunc", logp_fn, user_data, shared_keys, shared_data), signature


def _make_expand_callback(n_dim, n_expanded, expand_fn, user_data, shared_keys, shared_data):
    """Replacement for ``nutpie.compile_pymc._make_c_expand_func`` (same arguments and result)."""
    import numba

    signature = numba.types.int64(
        numba.types.uint64,
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )
    return _generated_callback(_EXPAND_SRC, "carepaths_expand_cfunc", expand_fn, user_data, shared_keys, shared_data), signature


def record_word_layout(record_dtype: np.dtype, keys: list[str]) -> tuple[int, list[tuple[int, list[int]]]]:
    """Where each shared array's address and shape sit in nutpie's ``user_data`` record.

    nutpie stores, per shared array, its data address (``shared.data.<key>``), its size
    and its shape (``shared.shape.<key>``), all as 8-byte unsigned integers. Reading the
    record as a flat array of 8-byte words, this returns the word index of each address
    and of each shape entry.

    Parameters
    ----------
    record_dtype : numpy.dtype
        The dtype of nutpie's ``user_data`` (a structured scalar).
    keys : list of str
        The shared-array keys the callback passes, in the order of the function's inputs.

    Returns
    -------
    n_words : int
        Length of the record in 8-byte words.
    layout : list of (int, list of int)
        Per key: the word index of its data address and the word indices of its shape.
    """
    if record_dtype.itemsize % 8:
        raise RuntimeError(f"nutpie's user_data record is {record_dtype.itemsize} bytes, not whole 8-byte words.")
    shared_offset = record_dtype.fields["shared"][1]
    shared = record_dtype["shared"]
    data_offset = shared_offset + shared.fields["data"][1]
    shape_offset = shared_offset + shared.fields["shape"][1]
    layout = []
    for key in keys:
        data_field = shared["data"].fields[key]
        shape_field = shared["shape"].fields[key]
        if data_field[0].itemsize != 8 or shape_field[0].base.itemsize != 8:
            raise RuntimeError("nutpie's user_data record does not hold 8-byte addresses and shapes.")
        address_word = (data_offset + data_field[1]) // 8
        ndim = shape_field[0].shape[0] if shape_field[0].shape else 0
        first_shape_word = (shape_offset + shape_field[1]) // 8
        layout.append((address_word, [first_shape_word + i for i in range(ndim)]))
    return record_dtype.itemsize // 8, layout


def _generated_callback(template, name, inner, user_data, shared_keys, shared_data):
    """Generate, and register for caching, one callback's Python source."""
    import numba
    import nutpie.compile_pymc as stock
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    n_words, layout = record_word_layout(user_data.dtype, list(shared_keys))
    # ``__name__`` lets numba rebuild the function's environment when it loads it from cache.
    env = {"__name__": __name__, "numba": numba, "np": np, "inner": inner, "as_pointer": stock.address_as_void_pointer, "N_WORDS": n_words}
    dtypes = [np.dtype(shared_data[key].dtype) for key in shared_keys]
    unpack, args = [], []
    for j, (dtype, (address_word, shape_words)) in enumerate(zip(dtypes, layout)):
        env[f"DTYPE{j}"] = dtype
        shape = "(" + "".join(f"int(words[{w}]), " for w in shape_words) + ")"
        unpack.append(f"    a{j} = numba.carray(as_pointer(words[{address_word}]), {shape}, DTYPE{j})")
        args.append(f", a{j}")
    call = "x" + "".join(args)
    if len(args) > _MAX_LITERAL_ARGS:
        # CPython 3.12+ compiles a call or tuple display of more than 30 items with list
        # opcodes (LIST_TO_TUPLE) that Numba cannot compile: pass them as a sum of
        # shorter tuples, unpacked (``f(x, *t)`` would build a list too; a model with missing mediators has ~40 data arrays)
        names = [a[2:] for a in args]
        chunks = " + ".join("(" + ", ".join(names[i:i + _MAX_LITERAL_ARGS]) + ",)"
                            for i in range(0, len(names), _MAX_LITERAL_ARGS))
        call = f"*((x,) + {chunks})"
    source = template.format(unpack="\n".join(unpack), call=call)

    _load_inner(inner, [(dtype, len(shape_words)) for dtype, (_, shape_words) in zip(dtypes, layout)])
    inner_key = CACHED_SRC_FUNCTIONS.get(getattr(inner, "py_func", None))
    cache_key = None
    if inner_key is not None:
        # the module name is part of the key: a cached callback's environment names it, and
        # an entry written under another name (a renamed module) cannot be loaded
        material = repr((__name__, source, inner_key, n_words, [str(d) for d in dtypes], numba.__version__))
        cache_key = "carepaths-" + hashlib.sha256(material.encode()).hexdigest()
    return compile_numba_function_src(source, name, global_env=env, cache_key=cache_key)


def _load_inner(inner, arrays: list[tuple[np.dtype, int]]) -> None:
    """Compile (or load from PyTensor's cache) the function a callback calls, before the callback.

    A callback carries its own copy of the PyTensor function it calls. When numba compiles
    the callback, the call resolves to the PyTensor function already loaded in the process;
    when numba loads the callback from cache and that function is not loaded yet, the call
    resolves to the callback's copy, which LLVM optimised a second time and which, under
    PyTensor's fast-math flags, can round differently in the last bits. NUTS amplifies
    such differences, so the same seed would give different draws on a fit that compiled
    the callback and on one that loaded it. Loading the function first makes both paths
    run the same code (the one nutpie's own wrapper runs).
    """
    import numba

    argument_types = [numba.types.Array(numba.types.float64, 1, "C")]
    argument_types += [numba.types.Array(numba.from_dtype(dtype), ndim, "C") for dtype, ndim in arrays]
    inner.get_call_template(tuple(argument_types), {})
