r"""The one engine behind every exercise's self-check: an :class:`Exercise` and :func:`check_answer`.

Naming convention in the notebooks: the student writes the function ``my_<name>`` in the solution
cell and the next cell runs ``check_<name>(my_<name>)`` (``my_q_sample`` -> ``check_q_sample``).

A lesson's exercise declares, next to its reference formula, the test cases (the boundary cases such
as t = 0, 1 and T-1 among them where the exercise has them) and its catalogue of typical mistakes:
each a *variant* function that computes what the mistaken formula returns, with the sentence that
names the slip. A formula made of terms declares each :class:`Term` with its slips, and
:func:`term_slips` builds every way of getting one or two terms wrong. The engine then

1. reports an exercise not solved yet (``None``, or the student edition's stub raising
   ``NotImplementedError``) as "not solved yet";
2. runs the student's function on a copy of every case (the random generators put back afterwards)
   and reads each result into a float64 tensor;
3. says "Correct" if it matches the reference on every case, or, when it does not, tries the
   accepted alternatives (a different valid answer: still True) and then each known mistake: the
   first variant that reproduces the answer on every case (raising or giving NaN where the answer
   does) names the error;
4. otherwise says what it can, naming the case (its inputs) where it went wrong: a result of
   ``None`` (a forgotten ``return``), the exception raised, fresh random numbers drawn, a result on
   another device, of an integer or half-precision dtype, of the wrong shape, NaN, or how far the
   answer is from the reference.

It prints one line, returns True or False and never raises on a wrong answer. Every mathematically
equal answer passes: a float, a numpy scalar or array, a tensor of any float dtype, written with
``math``, ``numpy`` or ``torch`` functions.
"""
from __future__ import annotations

import inspect
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..core.schedules import NoiseSchedule

__all__ = ["NOT_SOLVED", "HALF_POWER", "Mistake", "Term", "Exercise", "check_answer", "term_slips", "stack_parts",
           "numbers", "as_f64"]

NOT_SOLVED = "Not solved yet: write your answer in the solution cell above, run it, then run this check again."

HALF_POWER = "`x ** 1/2` is (x ** 1) / 2 in Python, not √x: write x ** 0.5 or math.sqrt(x)."
"""The slip of writing a square root as ``** 1/2``, possible wherever a formula has a root."""

Mistake = tuple[Callable, str]
"""``(variant, message)``: ``variant(*case)`` returns what the mistaken formula gives on a case."""

_MATH_ON_TENSORS = ("only one element tensors can be converted", "must be real number, not Tensor")


def _say(ok: bool, msg: str) -> bool:
    """Print the verdict line (``✅ Correct. ...`` or ``❌ ...``) and return ``ok``."""
    print(("✅ Correct. " if ok else "❌ ") + " ".join(msg.split()))
    return ok


def as_f64(value) -> torch.Tensor:
    """``value`` (a tensor on any device, a number, a numpy array or a nested list of numbers) as a
    float64 CPU tensor."""
    return torch.as_tensor(value, dtype=torch.float64, device="cpu")


def numbers(n: int, what: str) -> Callable:
    """A reader for an answer made of ``n`` numbers (floats, 0-d tensors, or a tuple of them).

    Returns a float64 tensor of shape () for ``n == 1`` and (n,) otherwise, so every component is
    compared (never only the first). Anything else raises ValueError saying "return ``what``".
    """
    def read(out):
        try:
            values = [float(out)] if n == 1 else [float(v) for v in out]
        except (TypeError, ValueError, RuntimeError):
            values = []
        if len(values) != n:
            raise ValueError(f"return {what}, got {_short(out)}.")
        return as_f64(values[0] if n == 1 else values)
    return read


def _as_is(out):
    return out


@dataclass(frozen=True)
class Term:
    """One term (or factor) of a formula: ``right(*case)`` is its right value; ``slips`` are
    :data:`Mistake` pairs giving the term's mistaken values; ``also_right`` are other valid forms
    (their message is said when the answer uses one)."""
    right: Callable
    slips: Sequence[Mistake] = ()
    also_right: Sequence[Mistake] = ()


def term_slips(assemble: Callable, terms: Mapping[str, Term], most: int = 2,
               named: Mapping[str, str] | None = None) -> tuple[list[Mistake], list[Mistake]]:
    """``(mistakes, accepted)`` of a formula ``assemble(values, *case)`` built from named ``terms``.

    ``values`` maps each term's name to its value on the case. Every combination of up to ``most``
    slipped terms is a mistake whose message joins the slips' messages (each once); every combination
    without a slip that uses an ``also_right`` form is accepted. Single slips come first. ``named``
    replaces a joined message by one sentence for the whole slip (two slips that make one known
    formula: the arguments swapped, x0_hat returned instead of a step).
    """
    names = list(terms)
    options = [[(terms[k].right, "right", "")] + [(f, "also", m) for f, m in terms[k].also_right]
               + [(f, "slip", m) for f, m in terms[k].slips] for k in names]
    mistakes, accepted = [], []
    for choice in itertools.product(*options):
        slipped = sum(kind == "slip" for _, kind, _ in choice)
        if slipped > most or all(kind == "right" for _, kind, _ in choice):
            continue

        def variant(*case, fns=tuple(f for f, _, _ in choice)):
            return assemble({k: f(*case) for k, f in zip(names, fns)}, *case)
        said = [m for _, kind, m in choice if kind == ("slip" if slipped else "also")]
        message = " ".join(dict.fromkeys(said))
        message = (named or {}).get(message, message)
        (mistakes if slipped else accepted).append((slipped, variant, message))
    mistakes.sort(key=lambda m: m[0])  # stable: one slip before two
    return [(v, m) for _, v, m in mistakes], [(v, m) for _, v, m in accepted]


def stack_parts(values: Mapping[str, object], *case) -> torch.Tensor:
    """:func:`term_slips`'s ``assemble`` for an answer made of several numbers (a pair ``(c_x, c_eps)``)."""
    return torch.stack([as_f64(v).reshape(()) for v in values.values()])


@dataclass(frozen=True)
class Exercise:
    """What a check knows about its exercise; :meth:`check` runs :func:`check_answer`.

    ``name`` names the answer in messages ("your reverse step"); ``cases`` are argument tuples;
    ``reference(*case)`` is the right result. ``mistakes`` and ``accepted`` are :data:`Mistake` pairs
    tried in order (an accepted variant is a different valid answer: the check passes with its
    message). ``read`` turns the student's raw result into what is compared (it raises ValueError for
    a result of the wrong kind); ``parts`` names the components of an answer made of several numbers.
    ``noise`` is the name of the argument that carries the noise, if any. ``praise`` replaces the
    default success sentence; ``hint_on_error`` follows an error or a wrong shape; ``partly_right`` is
    said when the answer is right on some cases only; ``unexplained`` ends the message when no known
    mistake explains the answer.
    """
    name: str
    cases: Sequence[tuple]
    reference: Callable
    mistakes: Sequence[Mistake] = ()
    accepted: Sequence[Mistake] = ()
    read: Callable = _as_is
    parts: Sequence[str] = ()
    noise: str = ""
    praise: str = ""
    hint_on_error: str = ""
    partly_right: str = ""
    unexplained: str = "Compare term by term with the equation above."
    # a float32 answer differs from the float64 reference by a few float32 epsilons (1.2e-7) per
    # operation, far below 1e-4; the catalogue's variants differ from it and from each other by far more
    # (tests/test_exercise_mistakes.py checks a 10x margin)
    rtol: float = 1e-4
    atol: float = 1e-5

    def check(self, answer) -> bool:
        return check_answer(answer, self)


@dataclass
class _Run:
    """One call of the student's function: ``status`` is ok, none, error, device, unreadable or todo."""
    status: str
    value: torch.Tensor | None = None
    error: BaseException | None = None
    dtype: object = None
    device: str = ""
    random: bool = False


def _rng_state():
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _rng_restore(state) -> bool:
    """Put the global generators back as they were; True if the call had moved any of them."""
    t, n, p = state
    now = np.random.get_state()
    moved = (not torch.equal(t, torch.get_rng_state()) or p != random.getstate()
             or not (np.array_equal(n[1], now[1]) and n[2:] == now[2:]))
    torch.set_rng_state(t)
    np.random.set_state(n)
    random.setstate(p)
    return moved


def _copy(args: tuple) -> tuple:
    """Fresh copies of a case's tensors and lists, so an in-place edit cannot change the case."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else list(a) if isinstance(a, list) else a for a in args)


def _tensors(value) -> list[torch.Tensor]:
    items = value if isinstance(value, (tuple, list)) else [value]
    return [v for v in items if isinstance(v, torch.Tensor)]


def _dtype(value):
    """The dtype of a result (a tensor, a numpy array or scalar, or the first tensor of a tuple), else None."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.dtype
    tensors = _tensors(value)
    return tensors[0].dtype if tensors else None


def _run(fn: Callable, args: tuple, read: Callable) -> _Run:
    """Call the student's function on one case and read its result."""
    state = _rng_state()
    try:
        out = fn(*_copy(args))
    except NotImplementedError as e:
        return _Run("todo", error=e)
    except Exception as e:  # a student's bug is reported, not raised
        return _Run("error", error=e, random=_rng_restore(state))
    moved = _rng_restore(state)
    if out is None:
        return _Run("none", random=moved)
    devices = {t.device for t in _tensors(args)} or {torch.device("cpu")}
    elsewhere = [t.device for t in _tensors(out) if t.device not in devices]
    if elsewhere:
        return _Run("device", device=str(elsewhere[0]), random=moved)
    try:
        return _Run("ok", value=as_f64(read(out)), dtype=_dtype(out), random=moved)
    except (TypeError, ValueError, RuntimeError) as e:
        return _Run("unreadable", error=e, random=moved)


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float) -> bool:
    if b.ndim == 0 and a.numel() == 1:  # a one-element array or tensor answers a question asking one number
        a = a.reshape(())
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def _invalid(run: _Run) -> bool:
    """The call raised, or gave a NaN or an infinity."""
    return run.status == "error" or (run.status == "ok" and not bool(torch.isfinite(run.value).all()))


def _reproduces(variant: Callable, runs: Sequence[_Run], cases, rtol: float, atol: float) -> bool:
    """Does ``variant`` give the student's result on every case? Where the variant raises, the student's
    function must raise the same exception or give NaN (``torch.sqrt(-1.0)`` where ``math.sqrt(-1.0)`` raises);
    where it gives NaN or infinity, the student's must raise or give NaN or infinity too."""
    for run, args in zip(runs, cases):
        try:
            expected = as_f64(variant(*args))
        except Exception as e:
            if not _invalid(run) or (run.status == "error" and type(run.error) is not type(e)):
                return False
            continue
        if not bool(torch.isfinite(expected).all()):
            if not _invalid(run):
                return False
        elif run.status != "ok" or not _close(run.value, expected, rtol, atol):
            return False
    return True


def _describe(value) -> str:
    """A short description of one input: a small tensor in full, a large one by its shape."""
    if isinstance(value, NoiseSchedule):
        return f"a {value.kind} schedule with T = {value.T}"
    if isinstance(value, torch.Tensor):
        if value.numel() <= (4 if value.is_floating_point() else 8):
            return f"tensor({_numbers(value.tolist())})"
        return f"a {tuple(value.shape)} tensor"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"[{_numbers(value[0])}, {_numbers(value[1])}, ..., {_numbers(value[-1])}] ({len(value)} items)"
    return _numbers(value) if isinstance(value, (int, float, list, tuple)) else _short(value)


def _numbers(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_numbers(v) for v in value) + "]"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _case_text(answer: Callable, args: tuple) -> str:
    """The case as ``name = value, ...``, with the parameter names of the student's function."""
    try:
        params = [p.name for p in inspect.signature(answer).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = params[:len(args)] + [f"argument {i + 1}" for i in range(len(params), len(args))]
    return ", ".join(f"{n} = {_describe(v)}" for n, v in zip(names, args))


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _first_line(e: BaseException) -> str:
    return ((str(e).splitlines() or [""])[0] or "(no message)").rstrip(".")


def _error_message(ex: Exercise, answer, runs, errors) -> str:
    i = errors[0]
    e = runs[i].error
    more = f" (and on {len(errors) - 1} more of the {len(runs)} cases)" if len(errors) > 1 else ""
    hint = ("math.log, math.sqrt, ... take one number at a time: on tensors use torch.log, torch.sqrt (they take "
            "floats too, through torch.as_tensor)." if any(s in str(e) for s in _MATH_ON_TENSORS) else "")
    return (f"{ex.name} raised {type(e).__name__} on the case {_case_text(answer, ex.cases[i])}{more}: "
            f"{_first_line(e)}. {hint} {ex.hint_on_error}")


def _draws_random_numbers(answer, ex: Exercise, runs) -> bool:
    """The answer moved a global generator, or gives another result when called again on the same case."""
    if any(r.random for r in runs):
        return True
    i = next((i for i, r in enumerate(runs) if r.status == "ok"), None)
    if i is None:
        return False
    again = _run(answer, ex.cases[i], ex.read)
    return again.status == "ok" and not torch.allclose(again.value, runs[i].value, rtol=0, atol=0, equal_nan=True)


def _dtype_message(ex: Exercise, run: _Run, ref: torch.Tensor, case: str) -> str:
    """What is wrong with the result's dtype, or "" when nothing is."""
    dt = run.dtype
    if dt is None:
        return ""
    kind = np.dtype(dt).kind if not isinstance(dt, torch.dtype) else (
        "f" if dt.is_floating_point else "c" if dt.is_complex else "i")
    if kind in "iub" and not torch.equal(ref, ref.round()):
        return (f"{ex.name} returned an integer result ({dt}) on the case {case}: the fractional part is lost. "
                f"Keep the values floats (1.0 rather than 1, / rather than //, no .long()).")
    low = dt in (torch.float16, torch.bfloat16) or (not isinstance(dt, torch.dtype) and np.dtype(dt) == np.float16)
    if low and _close(run.value, ref, 1e-2, 1e-3):  # half precision keeps about 3 significant digits
        return (f"{ex.name} is right to about 3 digits, but its result is {dt}, which keeps no more: compute in the "
                f"inputs' precision (no .half() or .bfloat16()).")
    return ""


def _diagnose(answer, ex: Exercise, runs: Sequence[_Run], refs, right) -> str:
    """The message for an answer no catalogued variant explains."""
    name, n = ex.name, len(runs)

    def case(i):
        return _case_text(answer, ex.cases[i])
    nones = [i for i, r in enumerate(runs) if r.status == "none"]
    if len(nones) == n:
        return f"{name} returned None: did you forget `return`?"
    if nones:
        return f"{name} returned None on the case {case(nones[0])}: does every path through it end in `return`?"
    errors = [i for i, r in enumerate(runs) if r.status == "error"]
    if errors:
        return _error_message(ex, answer, runs, errors)
    if _draws_random_numbers(answer, ex, runs):
        if ex.noise:
            return (f"{name} draws fresh random numbers: use the `{ex.noise}` argument, the noise the check gives "
                    f"you, instead of drawing your own (torch.randn...).")
        return f"{name} draws random numbers, but this formula has none: compute it from the inputs alone."
    for i, r in enumerate(runs):
        if r.status == "device":
            return (f"{name} returned a tensor on {r.device} for inputs on the CPU ({case(i)}): create new tensors "
                    f"on the inputs' device (device=x.device), never with .cuda() or .to('cuda').")
    for r in runs:
        if r.status == "unreadable":
            return f"{name}: {r.error}"
    wrong = [i for i, ok in enumerate(right) if not ok]
    i = wrong[0]
    out, ref = runs[i].value, refs[i]
    for j in wrong:
        if not bool(torch.isfinite(runs[j].value).all()):
            return (f"{name} gave NaN or infinity on the case {case(j)}: a square root or log of a negative "
                    f"number, or a division by zero? {ex.hint_on_error}")
    dtype_msg = _dtype_message(ex, runs[i], ref, case(i))
    if dtype_msg:
        return dtype_msg
    if not (out.shape == ref.shape or (ref.ndim == 0 and out.numel() == 1)):
        return (f"{name} returned shape {tuple(out.shape)}, expected {tuple(ref.shape)}, on the case {case(i)}. "
                f"{ex.hint_on_error}")
    if ex.partly_right and any(right):
        return ex.partly_right
    out = out.reshape(ref.shape)
    detail = (f"got {out.item():.4g}, expected {ref.item():.4g}" if ref.numel() == 1
              else f"largest difference {(out - ref).abs().max().item():.3g}")
    if ex.parts:
        wrong_parts = [part for k, part in enumerate(ex.parts) if not all(
            bool(torch.isclose(r.value[k], f[k], rtol=ex.rtol, atol=ex.atol)) for r, f in zip(runs, refs))]
        detail += f"; wrong: {', '.join(wrong_parts)}"
    where = f"on {len(wrong)} of the {n} cases, e.g. " if len(wrong) > 1 else "on the case "
    return (f"{name} does not match ddpm_helpers {where}{case(i)} ({detail}), and none of the usual mistakes "
            f"explains it. {ex.unexplained}")


def check_answer(answer, ex: Exercise) -> bool:
    """Check the student's function ``answer`` against the exercise ``ex``; print one verdict line.

    Returns True (the answer equals the reference, or an accepted alternative, on every case) or False;
    never raises on a wrong answer.
    """
    if not callable(answer):
        return _say(False, NOT_SOLVED if answer is None
                    else f"{ex.name} must be a function, got {type(answer).__name__}.")
    runs = [_run(answer, args, ex.read) for args in ex.cases]
    if any(r.status == "todo" for r in runs):
        return _say(False, NOT_SOLVED)
    refs = [as_f64(ex.reference(*args)) for args in ex.cases]
    right = [r.status == "ok" and _close(r.value, ref, ex.rtol, ex.atol) for r, ref in zip(runs, refs)]
    if all(right):
        return _say(True, ex.praise or f"{ex.name} matches ddpm_helpers on {len(ex.cases)} test cases.")
    for variant, msg in ex.accepted:
        if _reproduces(variant, runs, ex.cases, ex.rtol, ex.atol):
            return _say(True, msg)
    for variant, msg in ex.mistakes:
        if _reproduces(variant, runs, ex.cases, ex.rtol, ex.atol):
            return _say(False, msg)
    return _say(False, _diagnose(answer, ex, runs, refs, right))
