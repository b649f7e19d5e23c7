r"""The one engine behind every exercise's self-check: :func:`check_answer`.

Naming convention in the notebooks: the student writes the function ``my_<name>`` in the solution
cell and the next cell runs ``check_<name>(my_<name>)`` (``my_q_sample`` -> ``check_q_sample``).

A lesson's ``check_<name>`` only describes its exercise: the test cases (the boundary cases such as
t = 0, 1 and T-1 among them where the exercise has them), the reference answer, and the typical
mistakes, each a *variant* function that reproduces the slip, with the sentence that explains it.
The engine then

1. reports an exercise not solved yet (``None``, or the student edition's stub raising
   ``NotImplementedError``) as "not solved yet";
2. runs the student's function on a copy of every case and reads each result into a float64 tensor;
3. says "Correct" if it matches the reference on every case, or, when it does not, tries the
   accepted alternatives (a different valid answer: still True) and then each known mistake: the
   first variant that reproduces the answer on every case names the error;
4. otherwise says what it can: the error raised, a result of the wrong kind or shape, or how far
   the answer is from the reference.

It prints one line, returns True or False and never raises on a wrong answer. An answer made of
several numbers (a pair such as ``(mean_coef, std)``) may list mistakes per part: every combination
of slips is then recognised and named.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import torch

__all__ = ["NOT_SOLVED", "Mistake", "check_answer", "numbers", "as_f64"]

NOT_SOLVED = "Not solved yet: write your answer in the solution cell above, run it, then run this check again."

Mistake = tuple[Callable, str]
"""``(variant, message)``: ``variant(*case)`` returns what the mistaken formula gives on a case."""


def _say(ok: bool, msg: str) -> bool:
    """Print the verdict line (``✅ Correct. ...`` or ``❌ ...``) and return ``ok``."""
    print(("✅ Correct. " if ok else "❌ ") + msg)
    return ok


def as_f64(value) -> torch.Tensor:
    """``value`` (a tensor on any device, a number or a nested list of numbers) as a float64 CPU tensor."""
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


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _copy(args: tuple) -> tuple:
    """Fresh copies of a case's tensors and lists, so an in-place edit cannot change the case."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else list(a) if isinstance(a, list) else a for a in args)


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def _run(fn: Callable, args: tuple, read: Callable) -> tuple[str, object]:
    """Call the student's function on one case: ("ok", float64 tensor), ("todo", e), ("error", e) or
    ("unreadable", why)."""
    try:
        out = fn(*_copy(args))
    except NotImplementedError as e:
        return "todo", e
    except Exception as e:  # a student's bug is reported, not raised
        return "error", e
    try:
        return "ok", as_f64(read(out))
    except (TypeError, ValueError, RuntimeError) as e:
        return "unreadable", e


def _reproduces(variant: Callable, results, cases, rtol: float, atol: float) -> bool:
    """Does ``variant`` give the student's result on every case (and raise where the student raised)?"""
    for (status, out), args in zip(results, cases):
        try:
            expected = as_f64(variant(*args))
        except Exception:
            if status != "error":
                return False
            continue
        if status != "ok" or not _close(out, expected, rtol, atol):
            return False
    return True


def _part_mistakes(reference: Callable, parts: Mapping[str, Sequence[Mistake]]) -> list[Mistake]:
    """Whole-answer mistakes from each part's mistakes: every combination of right and mistaken parts
    (at least one mistaken), the parts' messages joined, so a pair with two slips names both."""
    options = [[(None, "")] + list(mistakes) for mistakes in parts.values()]
    combined = []
    for choice in itertools.product(*options):
        if all(variant is None for variant, _ in choice):
            continue

        def variant(*args, choice=choice):
            right = as_f64(reference(*args))
            return torch.stack([right[i] if v is None else as_f64(v(*args)) for i, (v, _) in enumerate(choice)])
        combined.append((variant, " ".join(msg for _, msg in choice if msg)))
    return combined


def check_answer(answer, name: str, cases: Sequence[tuple], reference: Callable, *,
                 mistakes: Sequence[Mistake] = (), accepted: Sequence[Mistake] = (),
                 parts: Mapping[str, Sequence[Mistake]] | None = None, read: Callable = lambda out: out,
                 praise: str = "", hint_on_error: str = "", partly_right: str = "",
                 unexplained: str = "Compare term by term with the equation above.",
                 rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """Check the student's function ``answer`` against ``reference`` on ``cases``; print one verdict line.

    ``cases`` are argument tuples; ``reference(*case)`` is the right result. ``mistakes`` and
    ``accepted`` are :data:`Mistake` pairs tried in order (an accepted variant is a different valid
    answer: the check passes with its message). ``parts`` names the components of an answer made of
    several numbers, each with its own mistakes. ``read`` turns the student's raw result into what is
    compared (it raises ValueError for a result of the wrong kind). ``praise`` replaces the default
    success sentence; ``hint_on_error`` follows an error or a wrong shape; ``partly_right`` is said
    when the answer is right on some cases only; ``unexplained`` ends the message when no known
    mistake explains the answer. Returns True or False; never raises on a wrong answer.
    """
    if not callable(answer):
        return _say(False, NOT_SOLVED if answer is None else f"{name} must be a function, got {type(answer).__name__}.")
    results = [_run(answer, args, read) for args in cases]
    if any(status == "todo" for status, _ in results):
        return _say(False, NOT_SOLVED)
    references = [as_f64(reference(*args)) for args in cases]
    right = [status == "ok" and _close(out, ref, rtol, atol) for (status, out), ref in zip(results, references)]
    if all(right):
        return _say(True, praise or f"{name} matches ddpm_helpers on {len(cases)} test cases.")
    for variant, msg in accepted:
        if _reproduces(variant, results, cases, rtol, atol):
            return _say(True, msg)
    known = list(mistakes) + (_part_mistakes(reference, parts) if parts else [])
    for variant, msg in known:
        if _reproduces(variant, results, cases, rtol, atol):
            return _say(False, msg)
    for status, problem in results:
        if status == "error":
            first_line = (str(problem).splitlines() or [""])[0]
            return _say(False, f"{name} raised {type(problem).__name__}: {first_line}. {hint_on_error}".strip())
    for status, problem in results:
        if status == "unreadable":
            return _say(False, f"{name}: {problem}")
    for (_, out), ref in zip(results, references):
        if out.shape != ref.shape:
            return _say(False, f"{name} returned shape {tuple(out.shape)}, expected {tuple(ref.shape)}. "
                              f"{hint_on_error}".strip())
    if partly_right and any(right):
        return _say(False, partly_right)
    out, ref = next((out, ref) for (_, out), ref, ok in zip(results, references, right) if not ok)
    if ref.numel() == 1:
        detail = f"got {out.item():.4g}, expected {ref.item():.4g}"
    else:
        detail = f"largest difference {(out - ref).abs().max().item():.3g}"
    if parts:
        wrong = [part for i, part in enumerate(parts) if not all(
            torch.isclose(o[i], r[i], rtol=rtol, atol=atol) for (_, o), r in zip(results, references))]
        detail += f"; wrong: {', '.join(wrong)}"
    return _say(False, f"{name} does not match ddpm_helpers ({detail}) and none of the usual mistakes "
                      f"explains it. {unexplained}".strip())
