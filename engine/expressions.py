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
from collections.abc import Callable, Iterable, Iterator, Mapping
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
        else:
            message = f"expression '{expression}' failed: {reason}"
        super().__init__(message, details={"expression": expression, "reason": reason})
        self.expression = expression
        self.reason = reason


# --------------------------------------------------------------------------- resource guards


def _too_big(what: str) -> SecurityError:
    return SecurityError(f"{what} would exceed the sandbox limit of {MAX_SIZE:,} items")


def _size(value: Any) -> int | None:
    if isinstance(value, str | bytes | list | tuple):
        return len(value)
    return None


def _check_repeat(seq: Any, times: Any) -> None:
    size = _size(seq)
    if size is not None and isinstance(times, int) and size * max(times, 0) > MAX_SIZE:
        raise _too_big(f"repeating a {type(seq).__name__} {times} times")


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


def _check_brace_format(fmt: str) -> None:
    for spec in _BRACE_SPEC.findall(fmt):
        _check_widths(_NUMBER.findall(spec))


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
    elif name in {"format", "format_map"}:
        _check_brace_format(owner)


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


_GUARDED_FILTERS: dict[str, Callable[..., None]] = {
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


class FlowMateSandbox(ImmutableSandboxedEnvironment):
    """The sandbox every expression runs in (one shared instance, see ``environment``)."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
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
        strings = [str(part) for part in parts]
        if sum(map(len, strings)) > MAX_SIZE:
            raise _too_big("concatenation with '~'")
        return "".join(strings)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(getattr(obj, "__name__", ""), owner, args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``trigger.body.items`` means the payload key "items", not dict.items.
        if isinstance(obj, Mapping) and not isinstance(obj, Undefined):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_brace_format(value.__self__)
        return wrapped

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # ChainableUndefined would swallow the error silently; fail loudly instead.
        raise SecurityError(f"access to attribute {attribute!r} is unsafe")


def _finalize(value: Any) -> Any:
    """How values look inside text: None/missing → "", dicts/lists → JSON."""
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, dict | list):
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


@lru_cache(maxsize=4096)
def _compile(source: str) -> _Compiled:
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


@lru_cache(maxsize=1024)
def _compile_bare(source: str) -> Any:
    try:
        return environment.compile_expression(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(source, exc.message or str(exc), kind="syntax") from None


def _run(source: str, func: Callable[[], Any]) -> Any:
    try:
        return func()
    except ExpressionError:
        raise
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
    """Turn a native expression result into plain data (no Undefined, generators, callables)."""
    if isinstance(value, Undefined):
        return None
    if isinstance(value, str):
        return str(value)  # Markup and other str subclasses become plain str
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: _to_data(v, source) for k, v in value.items()}
    if isinstance(value, list | tuple | range | Iterator):
        out = []
        for item in value:
            if len(out) >= MAX_SIZE:
                raise ExpressionError(source, f"result has more than {MAX_SIZE:,} items", kind="unsafe")
            out.append(_to_data(item, source))
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
