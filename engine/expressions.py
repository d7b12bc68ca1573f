"""Sandboxed ``{{ ... }}`` expressions in step configs.

Workflow authors are not fully trusted, and webhook payloads are not trusted at all, so every
template is rendered in Jinja2's ``ImmutableSandboxedEnvironment`` (a ``SandboxedEnvironment``
that also refuses to mutate lists/dicts, so one step cannot rewrite another step's output).
On top of the sandbox we cap the resources a single expression may allocate: ``range`` size,
string/list repetition, ``~`` concatenation, big powers, and the handful of filters and string
methods whose output size is driven by an argument (``center``, ``replace``, ``join``, ...).

A string that is exactly one expression keeps its native type (``"{{ trigger.body.items }}"``
stays a list); anything else renders to ``str``. Missing variables are lenient (``None`` for a
whole expression, ``""`` inside text), because payload shapes vary between trigger calls.
Rendered output is data and is never rendered a second time.
"""

from __future__ import annotations

import json
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2 import filters as jinja_filters
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import PermanentError

#: Largest ``range()`` an expression may build.
MAX_RANGE = 10_000
#: Largest string (characters) or list (items) an operator/filter inside an expression may build.
MAX_SIZE = 1_000_000
#: Largest integer (in bits) ``**`` and ``*`` may produce.
MAX_INT_BITS = 4_096
#: Largest rendered text of one template.
MAX_OUTPUT = 2 * MAX_SIZE
#: Deepest bracket nesting inside one ``{{ }}``/``{% %}`` (the parser and Python's compiler
#: recurse per level: deeper input would crash them instead of failing politely).
MAX_NESTING = 32
#: Default budget of one evaluation when no step-wide budget is active (see ``render_budget``):
#: sandbox operations (calls, attribute/item lookups, operators, loop iterations) and seconds.
DEFAULT_MAX_OPERATIONS = 1_000_000
DEFAULT_MAX_SECONDS = 5.0
#: How many operations pass between two looks at the clock (time.monotonic costs ~50 ns).
_CLOCK_EVERY = 512

_EXPR_START = re.compile(r"\{\{|\{%")
_WHOLE = re.compile(r"^\s*\{\{-?(?P<expr>.*?)-?\}\}\s*$", re.DOTALL)
_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d*)(?:\.(\*|\d*))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")


class ExpressionError(PermanentError):
    """An expression is invalid, unsafe, or failed while evaluating. Retrying cannot fix it."""

    def __init__(self, expression: str, reason: str | None = None, *, kind: str = "failed"):
        if reason is None:  # plain ExpressionError("message") still works
            message, reason = expression, expression
        elif kind == "unsafe":
            message = f"expression '{expression}' is not allowed: {reason}"
        elif kind == "syntax":
            message = f"expression '{expression}' has a syntax error: {reason}"
        elif kind == "budget":
            message = f"expression '{_shorten(expression)}' stopped: {reason}"
        else:
            message = f"expression '{expression}' failed: {reason}"
        super().__init__(message, details={"expression": expression, "reason": reason})
        self.expression = expression
        self.reason = reason


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------------------------- budgets


class BudgetExceeded(Exception):
    """Raised inside the sandbox when an evaluation spent its operations or its time."""


class Budget:
    """Operations and wall-clock seconds an evaluation (or a whole step's rendering) may spend.

    Every sandbox operation — a call (functions, methods, macros), an attribute or item lookup,
    an intercepted operator, one loop iteration, one item of a size check — costs one unit, and
    every ``_CLOCK_EVERY`` units the deadline is checked. So nested loops and macro fan-outs stop
    after a bounded amount of work, whatever each piece looks like on its own.
    """

    __slots__ = ("ops", "max_ops", "seconds", "deadline", "next_clock")

    def __init__(self, max_ops: int = DEFAULT_MAX_OPERATIONS, seconds: float = DEFAULT_MAX_SECONDS) -> None:
        self.ops = 0
        self.max_ops = max_ops
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.next_clock = _CLOCK_EVERY

    def spend(self, units: int = 1) -> None:
        self.ops += units
        if self.ops >= self.next_clock:
            self.next_clock = self.ops + _CLOCK_EVERY
            if self.ops > self.max_ops:
                raise BudgetExceeded(f"it used more than {self.max_ops:,} operations (loops, calls, lookups); "
                                     "simplify it or move the work into a step")
            if time.monotonic() > self.deadline:
                raise BudgetExceeded(f"it ran for more than {self.seconds:g}s; simplify it or move the work "
                                     "into a step")


#: The budget of the evaluation running in this thread/task (set by ``render_budget`` or per call).
_active_budget: ContextVar[Budget | None] = ContextVar("flowmate_expression_budget", default=None)


def _spend(units: int = 1) -> None:
    budget = _active_budget.get()
    if budget is not None:
        budget.spend(units)


@contextmanager
def render_budget(max_ops: int = DEFAULT_MAX_OPERATIONS, seconds: float = DEFAULT_MAX_SECONDS) -> Iterator[Budget]:
    """Share one budget between every evaluation inside the block (the executor wraps a step's
    ``when`` and config rendering in one, bounded by the step's timeout)."""
    budget = Budget(max_ops, seconds)
    token = _active_budget.set(budget)
    try:
        yield budget
    finally:
        _active_budget.reset(token)


@contextmanager
def _evaluation_budget() -> Iterator[None]:
    """A default budget for an evaluation that runs outside any ``render_budget`` block."""
    if _active_budget.get() is not None:
        yield
        return
    with render_budget():
        yield


# --------------------------------------------------------------------------- resource guards


def _too_big(what: str) -> SecurityError:
    return SecurityError(f"{what} would exceed the sandbox limit of {MAX_SIZE:,} items")


def _deep_size(value: Any, limit: int = MAX_SIZE) -> int:
    """Items plus characters in ``value`` and everything nested in it, counting shared parts each
    time they appear (that is what materialising or serialising it costs). Stops counting just
    past ``limit``; each visited item is charged to the active budget."""
    total = 0
    stack = [value]
    visited = 0
    while stack and total <= limit:
        item = stack.pop()
        visited += 1
        if isinstance(item, str | bytes):
            total += len(item) or 1
        elif isinstance(item, Mapping):
            total += len(item) or 1
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            total += len(item) or 1
            stack.extend(item)
        else:
            total += 1
    _spend(visited)
    return total


def _size(value: Any) -> int | None:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple):
        return _deep_size(value)
    return None


def _check_repeat(seq: Any, times: Any) -> None:
    size = _size(seq)
    if size is not None and isinstance(times, int) and size * max(times, 0) > MAX_SIZE:
        raise _too_big(f"repeating a {type(seq).__name__} {times} times")


def _check_materialised(value: Any, what: str) -> None:
    if isinstance(value, Mapping | list | tuple) and _deep_size(value) > MAX_SIZE:
        raise _too_big(what)


def _check_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"integer results larger than {MAX_INT_BITS} bits are not allowed")
    return value


def _check_widths(numbers: Iterable[str]) -> None:
    for number in numbers:
        if number and number.isdigit() and int(number) > MAX_SIZE:
            raise _too_big(f"a format width of {number}")


def _check_percent_format(fmt: str, args: Any) -> None:
    for width, precision in _PERCENT_SPEC.findall(fmt):
        _check_widths((width, precision))
    values = args if isinstance(args, tuple) else (args,)
    if "*" in fmt:
        for value in values:
            if isinstance(value, int) and value > MAX_SIZE:
                raise _too_big(f"a format width of {value}")


def _check_brace_format(fmt: str, args: tuple[Any, ...] = (), kwargs: Mapping[str, Any] | None = None) -> None:
    """Refuse literal widths past the cap, and any big number fed to a nested ``{:{}}`` width."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    nested = False
    for _literal, _name, spec, _conversion in fields:
        if spec:
            _check_widths(_NUMBER.findall(spec))
            nested = nested or "{" in spec
    if nested:
        for value in (*args, *(kwargs or {}).values()):
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_SIZE:
                raise _too_big(f"a format width of {value}")


def _check_str_method(name: str, owner: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse str methods whose output size is driven by their arguments."""
    if name in {"center", "ljust", "rjust", "zfill", "expandtabs"}:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and value > MAX_SIZE:
                raise _too_big(f"str.{name}({value})")
        if name == "expandtabs" and args and isinstance(args[0], int):
            _check_repeat(owner, max(args[0], 1))
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1)
    elif name == "join" and args:
        _check_join(owner, args[0])
    elif name == "format":
        _check_brace_format(owner, args, kwargs)
    elif name == "format_map":
        _check_brace_format(owner, (), args[0] if args and isinstance(args[0], Mapping) else None)


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - len(old)) > MAX_SIZE:
        raise _too_big("replace()")


def _check_join(separator: Any, items: Any) -> None:
    if not isinstance(items, list | tuple):
        return
    total = len(str(separator)) * max(len(items) - 1, 0)
    total += sum(len(item) if isinstance(item, str) else 20 for item in items)
    _spend(len(items))
    if total > MAX_SIZE:
        raise _too_big("join()")


def _safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() of {len(rng):,} items exceeds the sandbox limit of {MAX_RANGE:,}")
    return rng


def _now() -> str:
    """Current time as an aware UTC ISO-8601 string (what actions and APIs expect)."""
    return datetime.now(UTC).isoformat()


_now.__name__ = "now"  # so error messages name it the way templates do


# ---------------------------------------------------------------------------- guarded filters


def _guard_filter(name: str, check: Callable[..., None]) -> Callable[..., Any]:
    original = jinja_filters.FILTERS[name]

    def guarded(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return original(*args, **kwargs)

    guarded.__name__ = f"guarded_{name}"
    # keep pass_context / pass_environment markers of the original filter
    for marker in ("jinja_pass_arg",):
        if hasattr(original, marker):
            setattr(guarded, marker, getattr(original, marker))
    return guarded


def _width_arg(position: int, keyword: str) -> Callable[..., None]:
    """Check an int width argument (counted after any environment/context argument)."""

    def check(*args: Any, **kwargs: Any) -> None:
        width = kwargs.get(keyword, args[position] if len(args) > position else None)
        if isinstance(width, int) and width > MAX_SIZE:
            raise _too_big(f"{keyword}={width}")
        if isinstance(width, str) and len(width) > 1000:
            raise _too_big(f"a {keyword} string of {len(width)} characters")

    return check


def _check_replace_filter(_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> None:
    _check_replace(str(s), old, new, -1 if count is None else count)


def _check_join_filter(_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> None:
    if isinstance(value, list | tuple):
        _check_join(d, value)


def _check_format_filter(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_percent_format(str(value), args)


def _check_indent_filter(s: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    width = kwargs.get("width", width)
    _width_arg(0, "width")(width)
    if isinstance(width, int):
        _check_repeat(str(s), max(width, 1))


def _check_wordwrap_filter(_env: Any, s: Any, width: Any = 79, break_long_words: Any = True,
                           wrapstring: Any = None, *args: Any, **kwargs: Any) -> None:
    width = kwargs.get("width", width)
    wrapstring = kwargs.get("wrapstring", wrapstring)
    text = str(s)
    _spend(len(text) // 64 + 1)  # textwrap is pure Python: charge it by size
    wrap = len(wrapstring) if isinstance(wrapstring, str) else 1
    lines = len(text) // max(width if isinstance(width, int) else 1, 1) + 1
    if len(text) + lines * wrap > MAX_SIZE:
        raise _too_big("wordwrap()")


def _check_sum_filter(_env: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    """Adding lists or strings copies the running total every time: bound the total *and* the
    copying (n additions of a growing total cost n × total)."""
    if isinstance(start, int | float) or not isinstance(iterable, list | tuple):
        return
    total = _deep_size(iterable)
    if total > MAX_SIZE or total * len(iterable) > 20 * MAX_SIZE:
        raise _too_big("sum() of sequences")


def _guarded_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    if not isinstance(start, int | float):
        iterable = list(iterable)
        _check_sum_filter(environment, iterable, attribute, start)
    return jinja_filters.do_sum(environment, iterable, attribute, start)


_guarded_sum.jinja_pass_arg = jinja_filters.do_sum.jinja_pass_arg  # type: ignore[attr-defined]

_GUARDED_FILTERS: dict[str, Callable[..., None]] = {
    "wordwrap": _check_wordwrap_filter,
    "center": _width_arg(1, "width"),
    "indent": _check_indent_filter,
    "replace": _check_replace_filter,
    "join": _check_join_filter,
    "format": _check_format_filter,
    "batch": _width_arg(1, "linecount"),
    "slice": _width_arg(1, "slices"),
    "tojson": _width_arg(2, "indent"),
}


# --------------------------------------------------------------------------------- environment


class _GuardedCodeGenerator(CodeGenerator):
    """Route ``a ~ b`` through the environment so concatenation is size-checked too."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _count_loops(node: nodes.Node) -> nodes.Node:
    """Wrap every ``{% for %}`` iterable in ``environment.guarded_iter`` (one budget unit per item)."""
    for loop in node.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.EnvironmentAttribute("guarded_iter"), [loop.iter], [], None, None,
                               lineno=loop.lineno)
    return node


class FlowMateSandbox(ImmutableSandboxedEnvironment):
    """The sandbox every expression runs in (one shared instance, see ``environment``)."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return _count_loops(super()._parse(source, name, filename))  # type: ignore[return-value]

    def guarded_iter(self, iterable: Any) -> Iterator[Any]:
        for item in iterable:
            _spend()
            yield item

    def getitem(self, obj: Any, argument: Any) -> Any:
        _spend()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _spend()
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if max(abs(left), 2).bit_length() * right > MAX_INT_BITS * 2 and abs(left) > 1:
                raise SecurityError(f"integer results larger than {MAX_INT_BITS} bits are not allowed")
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left, right)
        elif operator == "+":
            left_size, right_size = _size(left), _size(right)
            if left_size is not None and right_size is not None and left_size + right_size > MAX_SIZE:
                raise _too_big("concatenation")
        return _check_int(super().call_binop(context, operator, left, right))

    def guarded_concat(self, parts: tuple[Any, ...]) -> str:
        _spend(len(parts))
        for part in parts:
            _check_materialised(part, "concatenation with '~'")
        strings = [str(part) for part in parts]
        if sum(map(len, strings)) > MAX_SIZE:
            raise _too_big("concatenation with '~'")
        return "".join(strings)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        _spend()
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(getattr(obj, "__name__", ""), owner, args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _spend()
        # ``trigger.body.items`` means the payload key "items", not dict.items.
        if isinstance(obj, Mapping) and not isinstance(obj, Undefined):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt, is_map = value.__self__, value.__name__ == "format_map"
        _check_brace_format(fmt)

        def checked(*args: Any, **kwargs: Any) -> str:
            if is_map:
                _check_brace_format(fmt, (), args[0] if args and isinstance(args[0], Mapping) else None)
            else:
                _check_brace_format(fmt, args, kwargs)
            return wrapped(*args, **kwargs)

        return checked

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # ChainableUndefined would swallow the error silently; fail loudly instead.
        raise SecurityError(f"access to attribute {attribute!r} is unsafe")


def _finalize(value: Any) -> Any:
    """How values look inside text: None/missing → "", dicts/lists → JSON."""
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, dict | list):
        _check_materialised(value, "the value written into the text")
        return json.dumps(value, default=str, ensure_ascii=False)
    return value


def _build_environment() -> FlowMateSandbox:
    env = FlowMateSandbox(
        undefined=ChainableUndefined,
        autoescape=False,
        finalize=_finalize,
        keep_trailing_newline=True,
        cache_size=0,  # we cache compiled templates ourselves
    )
    for name, check in _GUARDED_FILTERS.items():
        env.filters[name] = _guard_filter(name, check)
    env.filters["sum"] = _guarded_sum
    # Small, predictable globals: no namespace() (lets loops accumulate) and no lipsum().
    env.globals = {
        "range": _safe_range,
        "dict": dict,
        "cycler": env.globals["cycler"],
        "joiner": env.globals["joiner"],
        "now": _now,
    }
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False, "default": str}
    return env


environment = _build_environment()


# ------------------------------------------------------------------------------------ compile


class _Compiled:
    """A compiled string: either one native expression or a text template."""

    __slots__ = ("source", "native", "template")

    def __init__(self, source: str, native: Any = None, template: Any = None):
        self.source = source
        self.native = native
        self.template = template


def _is_single_expression(source: str) -> bool:
    """True when the template is one ``{{ }}`` output and optional surrounding whitespace."""
    body = environment.parse(source).body
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return False
    parts = [n for n in body[0].nodes if not (isinstance(n, nodes.TemplateData) and not n.data.strip())]
    return len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData)


_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_OPENERS, _CLOSERS = "([{", ")]}"


def nesting_depth(code: str) -> int:
    """Deepest bracket nesting in ``code`` (brackets inside string literals count too: cheap
    and conservative)."""
    depth = deepest = 0
    for char in code:
        if char in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSERS:
            depth = max(depth - 1, 0)
    return deepest


def _check_nesting(source: str, bare: bool = False) -> None:
    """Refuse expressions nested past MAX_NESTING before the parser recurses into them."""
    pieces = [source] if bare else [m.group(0)[2:-2] for m in _TAG.finditer(source)]
    for piece in pieces:
        if nesting_depth(piece) > MAX_NESTING:
            raise ExpressionError(source, f"brackets are nested more than {MAX_NESTING} levels deep",
                                  kind="syntax")


@lru_cache(maxsize=4096)
def _compile(source: str) -> _Compiled:
    _check_nesting(source)
    try:
        if _is_single_expression(source):
            match = _WHOLE.match(source)
            if match:
                return _Compiled(source, native=environment.compile_expression(match["expr"]))
        return _Compiled(source, template=environment.from_string(source))
    except TemplateSyntaxError as exc:
        raise ExpressionError(source, exc.message or str(exc), kind="syntax") from None
    except SecurityError as exc:
        raise ExpressionError(source, str(exc), kind="unsafe") from None
    except (RecursionError, MemoryError, SyntaxError):
        raise ExpressionError(source, "the expression is nested too deeply", kind="syntax") from None


@lru_cache(maxsize=1024)
def _compile_bare(source: str) -> Any:
    _check_nesting(source, bare=True)
    try:
        return environment.compile_expression(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(source, exc.message or str(exc), kind="syntax") from None
    except (RecursionError, MemoryError, SyntaxError):
        raise ExpressionError(source, "the expression is nested too deeply", kind="syntax") from None


def _run(source: str, func: Callable[[], Any]) -> Any:
    try:
        with _evaluation_budget():
            return func()
    except ExpressionError:
        raise
    except BudgetExceeded as exc:
        raise ExpressionError(source, str(exc), kind="budget") from None
    except SecurityError as exc:
        raise ExpressionError(source, str(exc), kind="unsafe") from None
    except TemplateSyntaxError as exc:
        raise ExpressionError(source, exc.message or str(exc), kind="syntax") from None
    except RecursionError:
        raise ExpressionError(source, "recursion too deep") from None
    except MemoryError:
        raise ExpressionError(source, "out of memory", kind="unsafe") from None
    except Exception as exc:  # noqa: BLE001 - any runtime error is the expression's fault
        raise ExpressionError(source, f"{type(exc).__name__}: {exc}") from None


def _to_data(value: Any, source: str) -> Any:
    """Turn a native expression result into plain data (no Undefined, generators, callables),
    refusing results whose whole materialised size (nested containers included) is past the cap."""
    if isinstance(value, Mapping | list | tuple) and _deep_size(value) > MAX_SIZE:
        raise ExpressionError(source, f"result is larger than {MAX_SIZE:,} items and characters", kind="unsafe")
    data = _materialise(value, source)
    if isinstance(data, dict | list) and _deep_size(data) > MAX_SIZE:
        raise ExpressionError(source, f"result is larger than {MAX_SIZE:,} items and characters", kind="unsafe")
    if isinstance(data, str) and len(data) > MAX_OUTPUT:
        raise ExpressionError(source, f"result is longer than {MAX_OUTPUT:,} characters", kind="unsafe")
    return data


def _materialise(value: Any, source: str) -> Any:
    if isinstance(value, Undefined):
        return None
    if isinstance(value, str):
        return str(value)  # Markup and other str subclasses become plain str
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: _materialise(v, source) for k, v in value.items()}
    if isinstance(value, list | tuple | range | Iterator):
        out = []
        for item in value:
            if len(out) >= MAX_SIZE:
                raise ExpressionError(source, f"result has more than {MAX_SIZE:,} items", kind="unsafe")
            _spend()
            out.append(_materialise(item, source))
        return out
    if callable(value):
        name = getattr(value, "__name__", type(value).__name__)
        raise ExpressionError(
            source, f"evaluates to the function {name!r}; did you mean to call it: {name}()?"
        )
    return value


# ----------------------------------------------------------------------------------------- API


def contains_expression(value: str) -> bool:
    """True if ``value`` is a string with a ``{{ }}`` expression (or a ``{% %}`` tag) in it."""
    return isinstance(value, str) and _EXPR_START.search(value) is not None


def check_syntax(value: Any, path: str = "") -> dict[str, str]:
    """Map the dotted path of every string with a broken template to its syntax error message.

    Used to validate workflow definitions before saving, so a typo is reported on the field
    (``steps.0.config.subject``) instead of failing a run later.
    """
    errors: dict[str, str] = {}
    if isinstance(value, str):
        if contains_expression(value):
            try:
                _compile(value)
            except ExpressionError as exc:
                errors[path] = exc.reason
    elif isinstance(value, Mapping):
        for key, item in value.items():
            errors.update(check_syntax(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            errors.update(check_syntax(item, f"{path}.{index}" if path else str(index)))
    return errors


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string in ``value`` (recursively through dicts and lists) against ``context``.

    A string that is exactly one expression returns the expression's native value; other
    strings with expressions render to ``str``; everything else is returned unchanged.
    Raises ExpressionError on syntax errors, sandbox violations and runtime errors.
    """
    if isinstance(value, str):
        return _render_string(value, context)
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context) for item in value]
    return value


def _render_string(source: str, context: Mapping[str, Any]) -> Any:
    if not contains_expression(source):
        return source
    compiled = _compile(source)
    variables = dict(context)
    if compiled.native is not None:
        return _run(source, lambda: _to_data(compiled.native(**variables), source))
    text = _run(source, lambda: compiled.template.render(variables))
    if len(text) > MAX_OUTPUT:
        raise ExpressionError(
            source, f"rendered text is longer than {MAX_OUTPUT:,} characters", kind="unsafe"
        )
    return text


_FALSY_TEXT = {"", "false", "0", "none", "null", "no", "off"}


def evaluate_condition(expr: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a step's ``when`` (or a filter's condition) to a bool.

    Accepts ``"{{ trigger.body.score >= 50 }}"`` or the bare ``"trigger.body.score >= 50"``.
    The result is the truthiness of the native value; if the condition is a text template
    (e.g. ``{% if %}`` tags), rendered text such as "false", "0", "no" or "" counts as false.
    A blank condition means "no condition" and is true.
    """
    if expr is None or not str(expr).strip():
        return True
    if isinstance(expr, bool):
        return expr
    source = str(expr)
    if contains_expression(source):
        result = _render_string(source, context)
        if isinstance(result, str) and _compile(source).native is None:
            return result.strip().lower() not in _FALSY_TEXT
        return bool(result)
    compiled = _compile_bare(source)
    variables = dict(context)
    return bool(_run(source, lambda: _to_data(compiled(**variables), source)))
