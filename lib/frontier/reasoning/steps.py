"""Steps of a Game-of-24 solution, their text form and their exact checks.

A *state* is the sorted tuple of remaining numbers (:class:`fractions.Fraction`).
A *step* picks two of them and an operation and writes down a result::

    Step(a=4, op="+", b=8, result=12)          text: "4+8=12"

The result is what the proposer *claims*; :attr:`Step.correct` checks the
arithmetic exactly.  Applying a step removes ``a`` and ``b`` from the state and
adds the claimed result, so a wrong claim propagates as it would in a
language model's chain of thought.

The text a proposer reads and writes (character-level, one token per character)::

    prompt:  "4 4 6 8:"
    chain:   "8/4=2[2 4 6];4*6=24[2 24];24/2=12[12]"  then end-of-sequence
    with a fraction: "8/3=8/3[3 8 8/3]" then "3-(8/3)=1/3[8 1/3]" ...

Each step is followed by the state it leaves, in brackets (the "left: ..."
of the Tree-of-Thoughts prompts), so the model never has to remember it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, List, Optional, Sequence, Tuple

__all__ = ["TARGET", "OPS", "Numbers", "Step", "to_numbers", "legal_steps", "apply_step", "fmt_number",
           "state_text", "prompt_text", "chain_text", "parse_step", "parse_chain", "ChainCheck", "check_chain",
           "canonical_expression", "expression_value", "pair_results"]

TARGET = Fraction(24)
OPS = ("+", "-", "*", "/")
Numbers = Tuple[Fraction, ...]


def _frac(x) -> Fraction:
    if isinstance(x, bool):
        raise TypeError("numbers must be int or Fraction, got bool")
    if isinstance(x, (int, Fraction)):
        return Fraction(x)
    if hasattr(x, "__index__"):          # numpy integers
        return Fraction(int(x))
    raise TypeError(f"numbers must be int or Fraction, got {type(x).__name__}")


def to_numbers(numbers: Iterable, *, puzzle: bool = True) -> Numbers:
    """A sorted tuple of fractions; ``puzzle=True`` also checks four whole numbers in 1-13.

    Raises:
        TypeError: an entry is not an int or Fraction.
        ValueError: empty; or (puzzle) not exactly four numbers, or one outside 1-13.
    """
    if isinstance(numbers, (str, bytes)):
        raise TypeError("numbers must be a sequence of numbers, not a string")
    vals = tuple(sorted(_frac(x) for x in numbers))
    if not vals:
        raise ValueError("numbers must not be empty")
    if puzzle:
        if len(vals) != 4:
            raise ValueError(f"a puzzle has exactly 4 numbers, got {len(vals)}")
        bad = [v for v in vals if v.denominator != 1 or not 1 <= v <= 13]
        if bad:
            raise ValueError(f"puzzle numbers must be whole numbers from 1 to 13, got {fmt_number(bad[0])}")
    return vals


def fmt_number(x: Fraction) -> str:
    """``12``, ``-3`` or ``8/3``."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _operand(x: Fraction) -> str:
    t = fmt_number(x)
    return f"({t})" if "/" in t else t


@dataclass(frozen=True)
class Step:
    """``a op b = result``; ``result`` is the claimed value (checked by :attr:`correct`)."""

    a: Fraction
    op: str
    b: Fraction
    result: Fraction

    @property
    def exact(self) -> Optional[Fraction]:
        """The true value of ``a op b`` (``None`` for division by zero)."""
        if self.op == "+":
            return self.a + self.b
        if self.op == "-":
            return self.a - self.b
        if self.op == "*":
            return self.a * self.b
        return None if self.b == 0 else self.a / self.b

    @property
    def correct(self) -> bool:
        """True if the claimed result is the exact value."""
        return self.exact is not None and self.exact == self.result

    @property
    def text(self) -> str:
        """``"4+8=12"``; fractional operands are bracketed, ``"(8/3)*9=24"``, so the text is unambiguous."""
        return f"{_operand(self.a)}{self.op}{_operand(self.b)}={fmt_number(self.result)}"

    @classmethod
    def make(cls, a, op: str, b) -> "Step":
        """A correct step: ``Step.make(4, "+", 8).result == 12``."""
        if op not in OPS:
            raise ValueError(f"op must be one of {list(OPS)}, got {op!r}")
        a = a if type(a) is Fraction else Fraction(a)
        b = b if type(b) is Fraction else Fraction(b)
        if op == "/" and b == 0:
            raise ValueError("division by zero")
        r = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
        return cls(a, op, b, r)


def legal_steps(numbers: Numbers) -> List[Step]:
    """Every distinct correct step from a state (sorted tuple of fractions).

    Distinct means distinct ``(a, op, b)`` by value: equal numbers are
    interchangeable, ``+`` and ``*`` are taken with ``a <= b`` only, ``-`` and
    ``/`` in both orders, and division by zero is left out.  From four
    distinct numbers there are 6 pairs x 6 = 36 steps.
    """
    out: List[Step] = []
    n = len(numbers)
    seen = set()
    for i in range(n):
        for j in range(i + 1, n):
            a, b = numbers[i], numbers[j]     # a <= b (sorted)
            if (a, b) in seen:
                continue
            seen.add((a, b))
            cands = [(a, "+", b), (a, "*", b), (b, "-", a)]
            if a != b:
                cands.append((a, "-", b))
            if a != 0:
                cands.append((b, "/", a))
            if b != 0 and a != b:
                cands.append((a, "/", b))
            out.extend(Step.make(x, op, y) for x, op, y in cands)
    return out


def pair_results(a: Fraction, b: Fraction) -> List[Fraction]:
    """The values of every legal step on two numbers (the last step of a chain), in :func:`legal_steps` order."""
    a, b = min(a, b), max(a, b)
    out = [a + b, a * b, b - a]
    if a != b:
        out.append(a - b)
    if a != 0:
        out.append(b / a)
    if b != 0 and a != b:
        out.append(a / b)
    return out


def apply_step(numbers: Numbers, step: Step) -> Numbers:
    """The state after ``step``: ``a`` and ``b`` removed, the claimed result added.

    Raises ValueError if ``a`` and ``b`` are not both among ``numbers``.
    """
    rest = list(numbers)
    for x in (step.a, step.b):
        try:
            rest.remove(x)
        except ValueError:
            raise ValueError(f"step {step.text} uses {fmt_number(x)}, which is not among "
                             f"{state_text(numbers)}") from None
    return tuple(sorted(rest + [step.result]))


def state_text(numbers: Iterable[Fraction]) -> str:
    """``"2 4 6"``: the numbers in ascending order, space separated."""
    return " ".join(fmt_number(x) for x in sorted(numbers))


def prompt_text(puzzle: Iterable) -> str:
    """``"4 4 6 8:"``, what the proposer is conditioned on."""
    return state_text(to_numbers(puzzle, puzzle=False)) + ":"


def chain_text(puzzle: Iterable, steps: Sequence[Step]) -> str:
    """The text of a (partial) chain, without the prompt, e.g. ``"8/4=2[2 4 6];4*6=24[2 24]"``.

    Steps that use numbers not in the state are written with the state left
    unchanged (the chain is then invalid, see :func:`check_chain`).
    """
    state = to_numbers(puzzle, puzzle=False)
    parts = []
    for s in steps:
        try:
            state = apply_step(state, s)
        except ValueError:
            pass
        parts.append(f"{s.text}[{state_text(state)}]")
    return ";".join(parts)


_NUM = r"-?\d+(?:/\d+)?"
_OPERAND = r"-?\d+|\(-?\d+/\d+\)"


def _parse_num(s: str) -> Fraction:
    s = s.strip("()")
    if "/" in s:
        p, q = s.split("/")
        if int(q) == 0:
            raise ValueError(f"zero denominator in {s!r}")
        return Fraction(int(p), int(q))
    return Fraction(int(s))


def parse_step(text: str) -> Step:
    """``"4+8=12"`` (optionally followed by ``[state]``) -> :class:`Step`; ValueError if malformed.

    Operands are whole numbers (maybe negative) or bracketed fractions
    (``(8/3)*9=24``); the result may be a bare fraction.  Every operator
    position is tried and the first split whose two sides are both operands wins.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    body = text.split("[", 1)[0].strip()
    if "=" not in body:
        raise ValueError(f"not a step (no '='): {text!r}")
    lhs, rhs = body.split("=", 1)
    result = _parse_num(rhs.strip()) if re.fullmatch(_NUM, rhs.strip()) else None
    if result is None:
        raise ValueError(f"not a number after '=': {text!r}")
    lhs = lhs.strip()
    # try every operator position; prefer the one whose operands both parse
    for k in range(1, len(lhs)):
        op = lhs[k]
        if op not in OPS:
            continue
        left, right = lhs[:k], lhs[k + 1:]
        if re.fullmatch(_OPERAND, left) and re.fullmatch(_OPERAND, right):
            try:
                return Step(_parse_num(left), op, _parse_num(right), result)
            except ValueError:
                continue
    raise ValueError(f"not a step 'a op b=c': {text!r}")


def parse_chain(text: str) -> Tuple[List[Step], bool]:
    """Split generated text on ``;`` into steps.

    Returns ``(steps, well_formed)``: parsing stops at the first piece that is
    not a step, and ``well_formed`` says whether every piece parsed.
    """
    steps: List[Step] = []
    pieces = [p for p in text.split(";") if p.strip()]
    for p in pieces:
        try:
            steps.append(parse_step(p))
        except ValueError:
            return steps, False
    return steps, True


@dataclass(frozen=True)
class ChainCheck:
    """The exact verdict on a chain.

    Attributes:
        valid: every step uses numbers that are present and has correct arithmetic.
        solved: valid, complete (one number left) and that number is 24.
        first_error: index of the first invalid step (``None`` if all are valid).
        final: the remaining numbers after the chain (claimed values).
        prefix_solvable: for each step, whether the state after it is valid and
            can still reach 24 (the exact process reward).
    """

    valid: bool
    solved: bool
    first_error: Optional[int]
    final: Numbers
    prefix_solvable: Tuple[bool, ...]


def check_chain(puzzle: Iterable, steps: Sequence[Step]) -> ChainCheck:
    """Check a chain exactly: legality and arithmetic of every step, and the end value."""
    from .solver import solvable

    state = to_numbers(puzzle, puzzle=False)
    first_error = None
    prefix = []
    for i, s in enumerate(steps):
        ok = s.correct
        try:
            state = apply_step(state, s)
        except ValueError:
            ok = False
        if not ok and first_error is None:
            first_error = i
        prefix.append(first_error is None and solvable(state))
    valid = first_error is None
    solved = valid and len(state) == 1 and state[0] == TARGET
    return ChainCheck(valid, solved, first_error, state, tuple(prefix))


def canonical_expression(puzzle: Iterable, steps: Sequence[Step]) -> str:
    """The expression a chain builds, e.g. ``"(4*6)/(8/4)"``; ``+`` and ``*`` operands sorted.

    Uses the claimed results to match operands to earlier steps, so it is
    defined for any chain whose steps use numbers that are present (else
    ValueError).  Two chains that differ only in step order give the same
    string.
    """
    items: List[Tuple[Fraction, str]] = [(v, fmt_number(v)) for v in to_numbers(puzzle, puzzle=False)]
    for s in steps:
        ea = _take(items, s.a, s)
        eb = _take(items, s.b, s)
        if s.op in "+*":
            ea, eb = sorted((ea, eb))
        items.append((s.result, f"({ea}{s.op}{eb})"))
    if len(items) == 1:
        e = items[0][1]
        return e[1:-1] if e.startswith("(") and _outer(e) else e
    return ",".join(sorted(e for _, e in items))


def _outer(e: str) -> bool:
    depth = 0
    for i, ch in enumerate(e):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(e) - 1:
            return False
    return True


def _take(items: List[Tuple[Fraction, str]], value: Fraction, step: Step) -> str:
    # prefer the plain number (leaf) with that value, then the shortest expression: deterministic
    cands = sorted((len(e), e, k) for k, (v, e) in enumerate(items) if v == value)
    if not cands:
        raise ValueError(f"step {step.text} uses {fmt_number(value)}, which is not available")
    _, e, k = cands[0]
    items.pop(k)
    return e


def expression_value(expr: str) -> Fraction:
    """Evaluate an arithmetic expression over integers exactly (``+ - * /``, brackets)."""
    import ast

    def ev(node) -> Fraction:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return Fraction(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                if b == 0:
                    raise ZeroDivisionError("division by zero in expression")
                return a / b
        raise ValueError(f"unsupported expression element: {ast.dump(node)[:60]}")

    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"not an arithmetic expression: {expr!r}") from e
    return ev(tree)
