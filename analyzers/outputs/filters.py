"""A small filter language for `where=` arguments, compiled to SQLAlchemy expressions.

    sc_integral > 1000 and sc_length < 50
    (camera = 0 or camera = 2) and not sc_width between 1 and 3
    backend in ('cupy', 'numpy') and pedestal_mean is not null
    time >= '2023-03-02 06:00'

Names must be columns of the table being queried; every value becomes a bound parameter.
Nothing of the string reaches SQL as text, so a filter cannot inject SQL: anything outside the
grammar (quotes left open, `;`, comments, functions, sub-queries) is a `FilterError` naming the
position.

Grammar:  expr := term ('or' term)* ; term := factor ('and' factor)* ;
          factor := 'not' factor | '(' expr ')' | comparison
          comparison := operand (OP operand | 'is' ['not'] 'null'
                        | ['not'] 'in' '(' value (',' value)* ')'
                        | ['not'] 'between' operand 'and' operand)
          operand := column | value ;  value := number | 'string' ;  OP := = == != <> < <= > >=
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .errors import FilterError

MAX_LENGTH = 2000
MAX_NESTING = 50  # parentheses and 'not's inside one another
_INT64 = (-(1 << 63), (1 << 63) - 1)  # what every SQL backend stores in an integer

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),])
""", re.VERBOSE)

_KEYWORDS = {"and", "or", "not", "in", "is", "null", "between", "true", "false"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: Any
    position: int


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise FilterError(f"filter longer than {MAX_LENGTH} characters")
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FilterError(f"filter: unexpected {text[position:position + 10]!r} at "
                              f"character {position + 1}")
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "number":
            value: Any = float(raw) if re.search(r"[.eE]", raw) else int(raw)
            if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
                raise FilterError(f"filter: {raw} at character {position + 1} is beyond "
                                  "the 64-bit integer range")
            if isinstance(value, float) and not math.isfinite(value):
                raise FilterError(f"filter: {raw} at character {position + 1} is beyond "
                                  "the range of a double (about 1.8e308)")
            tokens.append(Token("value", raw, value, position))
        elif kind == "string":
            quote = raw[0]
            tokens.append(Token("value", raw, raw[1:-1].replace(quote * 2, quote), position))
        elif kind == "name":
            lower = raw.lower()
            if lower in ("true", "false"):
                tokens.append(Token("value", raw, lower == "true", position))
            elif lower in _KEYWORDS:
                tokens.append(Token(lower, raw, None, position))
            else:
                tokens.append(Token("name", raw, raw, position))
        elif kind in ("op", "punct"):
            tokens.append(Token(raw, raw, None, position))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, table: sa.Table) -> None:
        self.text = text
        self.table = table
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    # -- token helpers --------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token | None:
        i = self.index + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def accept(self, kind: str) -> Token | None:
        token = self.peek()
        if token is not None and token.kind == kind:
            self.index += 1
            return token
        return None

    def expect(self, kind: str, what: str) -> Token:
        token = self.accept(kind)
        if token is None:
            self.fail(f"expected {what}")
        assert token is not None
        return token

    def fail(self, message: str) -> None:
        token = self.peek()
        where = (f"at {token.text!r} (character {token.position + 1})" if token
                 else "at the end")
        raise FilterError(f"filter {self.text!r}: {message} {where}")

    # -- grammar ----------------------------------------------------------------------------
    def parse(self) -> sa.ColumnElement[bool]:
        if not self.tokens:
            raise FilterError("filter is empty")
        expression = self.expr()
        if self.peek() is not None:
            self.fail("unexpected text")
        return expression

    def expr(self) -> sa.ColumnElement[bool]:
        terms = [self.term()]
        while self.accept("or"):
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else sa.or_(*terms)

    def term(self) -> sa.ColumnElement[bool]:
        factors = [self.factor()]
        while self.accept("and"):
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else sa.and_(*factors)

    def factor(self) -> sa.ColumnElement[bool]:
        if self.accept("not"):
            with self.nested():
                return sa.not_(self.factor())
        if self.accept("("):
            with self.nested():
                inner = self.expr()
            self.expect(")", "')'")
            return inner
        return self.comparison()

    @contextlib.contextmanager
    def nested(self) -> Any:
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"nested more than {MAX_NESTING} deep")
        try:
            yield
        finally:
            self.depth -= 1

    def comparison(self) -> sa.ColumnElement[bool]:
        left = self.operand()
        token = self.peek()
        if token is None:
            self.fail("expected a comparison")
        assert token is not None
        if token.kind in ("=", "==", "!=", "<>", "<", "<=", ">", ">="):
            self.index += 1
            right = self.operand()
            column = left if isinstance(left, sa.Column) else right
            if not isinstance(column, sa.Column):
                self.fail("a comparison needs a column name on one side")
            left, right = _bind(left, column), _bind(right, column)
            op = {"=": "==", "<>": "!="}.get(token.kind, token.kind)
            return {
                "==": left == right, "!=": left != right, "<": left < right,
                "<=": left <= right, ">": left > right, ">=": left >= right,
            }[op]
        column = self.need_column(left)
        if self.accept("is"):
            negate = self.accept("not") is not None
            self.expect("null", "'null'")
            return column.is_not(None) if negate else column.is_(None)
        negate = self.accept("not") is not None
        if self.accept("in"):
            self.expect("(", "'('")
            values = [self.expect("value", "a value").value]
            while self.accept(","):
                values.append(self.expect("value", "a value").value)
            self.expect(")", "')'")
            condition = column.in_([_coerce(v, column) for v in values])
        elif self.accept("between"):
            low = _bind(self.operand(), column)
            self.expect("and", "'and'")
            high = _bind(self.operand(), column)
            condition = column.between(low, high)
        else:
            self.fail("expected an operator (=, <, >, in, between, is null)")
        return sa.not_(condition) if negate else condition

    def operand(self) -> Any:
        token = self.peek()
        if token is not None and token.kind == "name":
            self.index += 1
            if token.value not in self.table.c:
                raise FilterError(
                    f"filter: {self.table.name} has no column {token.value!r} (columns: "
                    f"{', '.join(self.table.c.keys())})")
            return self.table.c[token.value]
        if token is not None and token.kind == "value":
            self.index += 1
            return _Literal(token.value)
        self.fail("expected a column name or a value")

    def need_column(self, operand: Any) -> sa.Column:
        if not isinstance(operand, sa.Column):
            self.fail("expected a column name before this")
        return operand


@dataclass(frozen=True)
class _Literal:
    value: Any


def _coerce(value: Any, column: sa.Column) -> Any:
    """A literal in the column's Python type (times parsed from ISO strings)."""
    python_type = None
    with contextlib.suppress(NotImplementedError):
        python_type = column.type.python_type
    if python_type is dt.datetime and isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise FilterError(f"filter: {value!r} is not a time for {column.name} "
                              "(use 'YYYY-MM-DD HH:MM:SS')") from None
    if python_type in (int, float) and isinstance(value, str):
        raise FilterError(f"filter: {column.name} is a number, got the text {value!r}")
    if python_type is str and not isinstance(value, str):
        return str(value)
    return value


def _bind(operand: Any, column: sa.Column) -> Any:
    if isinstance(operand, _Literal):
        return sa.bindparam(None, _coerce(operand.value, column), type_=column.type)
    return operand


def parse_filter(text: str, table: sa.Table) -> sa.ColumnElement[bool]:
    """The filter `text` as a SQLAlchemy condition on `table` (values as bound parameters)."""
    return _Parser(text, table).parse()
