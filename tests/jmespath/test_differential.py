"""Differential test of berth's JMESPath (src/jmespath) against the reference implementation.

A seeded, grammar-driven generator makes (expression, document) pairs over every construct of
the specification and every built-in function, often with wrongly typed arguments or the
wrong number of them, plus mutated expressions for syntax errors. Each pair goes through
berth-jmespath-eval (all pairs in one process, over stdin) and through Debian's
python3-jmespath in-process; results must be equal and errors of the same class.

Key order matters: documents, JSON literals and multi-select hashes have their keys in random
order, and a result's objects must list their keys in the order Python's dicts do (insertion
order: a hash's keys as the expression lists them, keys()/values()/`*` as the document has
them, merge() as dict.update). Equality between objects ignores key order, as Python's does.

The oracle is the reference implementation with a few documented corrections, where it
crashes with a Python TypeError or follows Python rather than the specification:
  * equality is JSON equality: true never equals 1, also inside arrays and objects
    (Python's `True == 1`);
  * ordering a number against a string gives null (Python raises TypeError);
  * contains() on a string with a non-string search is false (TypeError);
  * min_by()/max_by() with keys mixing numbers and strings is an invalid-type error
    (TypeError);
  * an expression reference is a value only as the argument of a parameter that takes one:
    elsewhere (`[&a]`, `to_string(&a)`) it is an invalid-type error, where the reference
    returns a Python object that is no JSON; and every argument of a variadic function is
    type-checked, not just the first (merge(`{}`, `1`) is an invalid-type error);
  * to_number() of "inf"/"nan" is null (JSON has no such numbers);
  * a lone UTF-16 surrogate escape ("\\ud800" without its pair) in a quoted identifier or a
    JSON literal is a syntax error: such a string has no UTF-8 form.
"""

import json
import math
import os
import random
import subprocess

import jmespath
from jmespath import exceptions, functions, lexer, visitor

# JMESPATH_DIFF_SEED explores other seeds; the suite runs the fixed one.
SEED = int(os.environ.get("JMESPATH_DIFF_SEED", "1212"))
PAIRS = 15000

FUNCTION_ARITY = {
    "abs": 1, "avg": 1, "ceil": 1, "contains": 2, "ends_with": 2, "floor": 1, "join": 2,
    "keys": 1, "length": 1, "map": 2, "max": 1, "max_by": 2, "merge": -1, "min": 1,
    "min_by": 2, "not_null": -1, "reverse": 1, "sort": 1, "sort_by": 2, "starts_with": 2,
    "sum": 1, "to_array": 1, "to_number": 1, "to_string": 1, "type": 1, "values": 1,
}
# Which argument positions take an expression reference.
EXPREF_POSITIONS = {"map": {0}, "max_by": {1}, "min_by": {1}, "sort_by": {1}}

KEYS = ["a", "b", "c", "foo", "bar"]
STRINGS = ["", "a", "b", "foo", "Bar", "é", "ü日本", "1", "-2", "2.5", " 3 ", "1_0", "1e3",
           "x y", "inf", "0x1"]
FLOATS = [0.5, -1.5, 2.0, 3.25, -0.0, 1e-05, 0.0001, 1e15, 1e16, 1.5e22, 123456.789, 0.1, 2.5e-7]


# ----- the oracle -------------------------------------------------------------------------

def _kind(x):
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, (int, float)):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, list):
        return "array"
    if isinstance(x, dict):
        return "object"
    return "null" if x is None else "other"


def json_equal(x, y):
    kx, ky = _kind(x), _kind(y)
    if kx != ky:
        return False
    if kx == "array":
        return len(x) == len(y) and all(json_equal(a, b) for a, b in zip(x, y))
    if kx == "object":
        return x.keys() == y.keys() and all(json_equal(x[k], y[k]) for k in x)
    return x == y


def _ordering(op):
    def compare(x, y):
        if _kind(x) != _kind(y):
            return None
        return op(x, y)
    return compare


visitor.TreeInterpreter.COMPARATOR_FUNC = dict(
    visitor.TreeInterpreter.COMPARATOR_FUNC,
    eq=json_equal,
    ne=lambda x, y: not json_equal(x, y),
    lt=_ordering(lambda x, y: x < y),
    lte=_ordering(lambda x, y: x <= y),
    gt=_ordering(lambda x, y: x > y),
    gte=_ordering(lambda x, y: x >= y),
)


def _has_lone_surrogate(value):
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    return False


def _rejecting_lone_surrogates(consume):
    def wrapper(self):
        token = consume(self)
        if _has_lone_surrogate(token["value"]):
            raise exceptions.LexerError(lexer_position=token["start"], lexer_value="",
                                        message="lone surrogate")
        return token
    return wrapper


lexer.Lexer._consume_quoted_identifier = _rejecting_lone_surrogates(
    lexer.Lexer._consume_quoted_identifier)
lexer.Lexer._consume_literal = _rejecting_lone_surrogates(lexer.Lexer._consume_literal)


def _visit_function_expression(self, node, value):
    arguments = [visitor._Expression(child["children"][0], self) if child["type"] == "expref"
                 else self.visit(child, value) for child in node["children"]]
    return self._functions.call_function(node["value"], arguments)


def _visit_expref(self, node, value):
    raise exceptions.JMESPathTypeError("expref", node, "expref", ["function argument"])


visitor.TreeInterpreter.visit_function_expression = _visit_function_expression
visitor.TreeInterpreter.visit_expref = _visit_expref


class OracleFunctions(functions.Functions):
    @functions.signature({"types": ["array", "string"]}, {"types": []})
    def _func_contains(self, subject, search):
        if isinstance(subject, str):
            return isinstance(search, str) and search in subject
        return any(json_equal(element, search) for element in subject)

    def _type_check(self, actual, signature, function_name):
        for i, argument in enumerate(actual):
            types = signature[min(i, len(signature) - 1)]["types"]
            if types:
                self._type_check_single(argument, types, function_name)
            elif isinstance(argument, visitor._Expression):
                raise exceptions.JMESPathTypeError(function_name, argument, "expref", ["any"])

    def _keys_by(self, array, expref, name):
        keys = []
        for element in array:
            key = expref.visit(expref.expression, element)
            kind = _kind(key)
            if kind not in ("number", "string") or (keys and kind != _kind(keys[0])):
                raise exceptions.JMESPathTypeError(name, key, kind, ["number", "string"])
            keys.append(key)
        return keys

    @functions.signature({"types": ["array"]}, {"types": ["expref"]})
    def _func_max_by(self, array, expref):
        if not array:
            return None
        keys = self._keys_by(array, expref, "max_by")
        return array[max(range(len(array)), key=lambda i: keys[i])]

    @functions.signature({"types": ["array"]}, {"types": ["expref"]})
    def _func_min_by(self, array, expref):
        if not array:
            return None
        keys = self._keys_by(array, expref, "min_by")
        return array[min(range(len(array)), key=lambda i: keys[i])]

    @functions.signature({"types": []})
    def _func_to_number(self, arg):
        number = super()._func_to_number(arg)
        if isinstance(number, float) and not math.isfinite(number):
            return None
        return number


ORACLE_OPTIONS = jmespath.Options(custom_functions=OracleFunctions())


def oracle(expression, document):
    """("result", value), ("error", kind) or ("skip", why)."""
    try:
        result = jmespath.search(expression, document, options=ORACLE_OPTIONS)
    except (exceptions.ArityError, exceptions.VariadictArityError):
        return ("error", "invalid-arity")
    except (exceptions.LexerError, exceptions.IncompleteExpressionError,
            exceptions.ParseError, exceptions.EmptyExpressionError):
        return ("error", "syntax")
    except exceptions.JMESPathTypeError:
        return ("error", "invalid-type")
    except exceptions.UnknownFunctionError:
        return ("error", "unknown-function")
    except ValueError:
        return ("error", "invalid-value")
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError):
        return ("skip", "result is not JSON (an expression reference as a value)")
    return ("result", result)


def same(expected, actual):
    """Python's result against the C++ one: exact types and objects' keys in the same order,
    except a Python float matches any number within 1e-9 relative, and so does a Python
    integer beyond 64 bits (math.floor of 1e22), which the C++ side holds as the nearest
    double."""
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int) and abs(expected) >= 2**63:
        return isinstance(actual, float) and math.isclose(expected, actual, rel_tol=1e-9)
    if isinstance(expected, int):
        return type(actual) is int and actual == expected
    if isinstance(expected, float):
        return (isinstance(actual, (int, float)) and not isinstance(actual, bool)
                and math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(same(e, a) for e, a in zip(expected, actual)))
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and list(actual) == list(expected)
                and all(same(expected[k], actual[k]) for k in expected))
    return False


# ----- the generator ----------------------------------------------------------------------

class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def chance(self, p):
        return self.rng.random() < p

    def pick(self, items):
        return self.rng.choice(items)

    # Documents: objects over a small key set so that paths hit often.
    def value(self, depth):
        r = self.rng.random()
        if depth <= 0 or r < 0.45:
            return self.scalar()
        if r < 0.75:
            return {k: self.value(depth - 1) for k in self.rng.sample(KEYS, self.rng.randint(0, 4))}
        return [self.value(depth - 1) for _ in range(self.rng.randint(0, 4))]

    def scalar(self):
        r = self.rng.random()
        if r < 0.15:
            return self.rng.randint(0, 3)
        if r < 0.3:
            return self.rng.randint(-5, 10)
        if r < 0.45:
            return self.pick(FLOATS)
        if r < 0.75:
            return self.pick(STRINGS)
        if r < 0.9:
            return self.chance(0.5)
        return None

    def table(self):
        # An array of alike objects, where filters and *_by functions have something to do.
        columns = self.rng.sample(KEYS, self.rng.randint(1, 3))
        kinds = {k: self.pick(["small", "string", "any"]) for k in columns}

        def cell(kind):
            if kind == "small":
                return self.rng.randint(0, 3) if self.chance(0.8) else self.pick([1.0, 2.5])
            if kind == "string":
                return self.pick(["a", "b", "foo", "Bar", ""])
            return self.scalar()
        def row():
            # Mostly the table's column order, sometimes another (equal objects, other order).
            order = columns if self.chance(0.7) else self.rng.sample(columns, len(columns))
            return {k: cell(kinds[k]) for k in order if self.chance(0.9)}
        return [row() for _ in range(self.rng.randint(0, 5))]

    def document(self):
        if self.chance(0.3):
            doc = {k: self.table() if self.chance(0.7) else self.value(2)
                   for k in self.rng.sample(KEYS, self.rng.randint(1, 3))}
        elif self.chance(0.8):
            doc = {k: self.value(3) for k in self.rng.sample(KEYS, self.rng.randint(1, 5))}
        else:
            doc = self.value(4)
        return doc

    # Expressions.
    def identifier(self):
        name = self.pick(KEYS + ["missing"])
        if self.chance(0.1):
            return json.dumps(name)  # quoted identifier
        if self.chance(0.02):
            return self.pick(['"foo bar"', '"\\u0061"', '"\\ud83d\\ude00"', '"é"'])
        return name

    def literal(self):
        r = self.rng.random()
        if r < 0.35:
            text = self.pick(STRINGS + ["it\\'s", "back\\\\slash"])
            return "'" + text + "'"
        value = self.value(2)
        text = json.dumps(value, ensure_ascii=self.chance(0.5))
        return "`" + text.replace("`", "\\`") + "`"

    def slice(self):
        def part():
            return "" if self.chance(0.4) else str(self.rng.randint(-4, 4))
        text = part() + ":" + part()
        if self.chance(0.5):
            step = "" if self.chance(0.3) else str(self.pick([-2, -1, 1, 2, 3, 0]))
            text += ":" + step
        return "[" + text + "]"

    def function(self, depth):
        if self.chance(0.02):
            name = self.pick(["nope", "lenght", "sum2"])
            arity = self.rng.randint(0, 2)
        else:
            name = self.pick(sorted(FUNCTION_ARITY))
            arity = FUNCTION_ARITY[name]
            if arity < 0:
                arity = self.rng.randint(1, 3)
            if self.chance(0.06):
                arity = max(0, arity + self.pick([-1, 1]))
        args = []
        for position in range(arity):
            if position in EXPREF_POSITIONS.get(name, ()) and self.chance(0.9):
                args.append("&" + self.expression(depth - 1))
            elif self.chance(0.04):
                args.append("&" + self.expression(depth - 1))  # a reference where a value goes
            else:
                args.append(self.argument(name, position, depth - 1))
        return name + "(" + ", ".join(args) + ")"

    def argument(self, name, position, depth):
        # Mostly plausible arguments so functions get past their type checks.
        if name in ("join",) and position == 0 and self.chance(0.7):
            return self.pick(["', '", "'-'", "''"])
        if name in ("starts_with", "ends_with", "contains") and position == 1 and self.chance(0.5):
            return self.literal()
        return self.expression(depth)

    def expression(self, depth):
        if depth <= 0:
            return self.pick([self.identifier, self.identifier, self.literal, lambda: "@"])()
        d = depth - 1
        choices = [
            (8, lambda: self.identifier()),
            (3, lambda: self.literal()),
            (1, lambda: "@"),
            (8, lambda: self.expression(d) + "." + self.identifier()),
            (2, lambda: self.expression(d) + ".*"),
            (3, lambda: self.expression(d) + "[" + str(self.rng.randint(-3, 3)) + "]"),
            (4, lambda: self.expression(d) + self.slice()),
            (3, lambda: self.expression(d) + "[*]"),
            (3, lambda: self.expression(d) + "[*]." + self.identifier()),
            (2, lambda: self.expression(d) + "[]"),
            (2, lambda: "*." + self.identifier()),
            (6, lambda: self.expression(d) + "[?" + self.condition(d) + "]"),
            (1, lambda: "[?" + self.condition(d) + "]"),
            (3, lambda: self.expression(d) + " | " + self.expression(d)),
            (2, lambda: self.expression(d) + " || " + self.expression(d)),
            (2, lambda: self.expression(d) + " && " + self.expression(d)),
            (2, lambda: "!" + self.expression(d)),
            (1, lambda: "&" + self.expression(d)),
            (5, lambda: self.condition(d)),
            (2, lambda: "(" + self.expression(d) + ")"),
            (3, lambda: "[" + ", ".join(self.expression(d)
                                        for _ in range(self.rng.randint(1, 3))) + "]"),
            (2, lambda: self.expression(d) + ".[" + self.expression(d) + "]"),
            (3, lambda: self.hash(d)),
            (1, lambda: self.expression(d) + "." + self.hash(d)),
            (12, lambda: self.function(d)),
            (6, lambda: self.table_query(d)),
            (1, lambda: self.expression(d) + "." + self.function(d)),
            (2, lambda: self.reordered_comparison(d)),
        ]
        total = sum(weight for weight, _ in choices)
        r = self.rng.uniform(0, total)
        for weight, make in choices:
            r -= weight
            if r <= 0:
                return make()
        return choices[-1][1]()

    def table_query(self, depth):
        # Queries shaped for the documents' tables (arrays of alike objects).
        table, column = self.pick(KEYS), self.pick(KEYS)
        return self.pick([
            lambda: "%s[?%s]" % (table, self.condition(depth)),
            lambda: "%s[?%s].%s" % (table, self.condition(depth), column),
            lambda: "%s[?%s] | [0]" % (table, self.condition(depth)),
            lambda: "%s[*].%s" % (table, column),
            lambda: "%s(%s, &%s)" % (self.pick(["sort_by", "max_by", "min_by"]), table, column),
            lambda: "%s(%s[*].%s)" % (self.pick(["sum", "avg", "max", "min", "sort"]), table,
                                      column),
            lambda: "%s%s.%s" % (table, self.slice(), column),
            lambda: "%s[].%s" % (table, column),
        ])()

    def condition(self, depth):
        op = self.pick(["==", "!=", "<", "<=", ">", ">="])
        if self.chance(0.5):
            # Something that often meets equal and comparable values.
            left = self.pick(KEYS + ["@"])
            right = self.pick(["`%d`" % self.rng.randint(0, 3), "`2.5`", "'a'", "'foo'",
                               self.pick(KEYS)])
            return left + " " + op + " " + right
        return self.expression(depth) + " " + op + " " + self.expression(depth)

    def reordered_comparison(self, depth):
        # One object written in two key orders, compared: equal whatever the order.
        keys = self.rng.sample(KEYS, self.rng.randint(2, 4))
        if self.chance(0.5):
            parts = {k: self.expression(depth) for k in keys}
            def write(order):
                return "{" + ", ".join(k + ": " + parts[k] for k in order) + "}"
        else:
            values = {k: self.value(1) for k in keys}
            def write(order):
                return "`" + json.dumps({k: values[k] for k in order}).replace("`", "\\`") + "`"
        first, second = write(keys), write(self.rng.sample(keys, len(keys)))
        return self.pick([
            lambda: first + " == " + second,
            lambda: first + " != " + second,
            lambda: "contains([`1`, %s], %s)" % (second, first),
            lambda: "[%s][?@ == %s]" % (first, second),
        ])()

    def hash(self, depth):
        keys = self.rng.sample(KEYS, self.rng.randint(1, 3))
        return "{" + ", ".join(k + ": " + self.expression(depth) for k in keys) + "}"

    def mutate(self, text):
        # Syntax errors (and the odd still-valid neighbour of a valid expression).
        i = self.rng.randint(0, len(text))
        r = self.rng.random()
        if r < 0.4 and text:
            return text[:i] + text[i + 1:]
        if r < 0.8:
            return text[:i] + self.pick(list("[]{}().,:|&!=<>*?@'`\"-0 ")) + text[i:]
        return self.pick(["", " ", "a.", "[", "a[", "{a}", "foo(", "a[1:2:3:4]", "a.'b'",
                          "`{`", "'unclosed", "a =b", "-", "a[-]", '"\\x"', "@(1)",
                          '"q"(@)', "a.*b", "{a: b,}", "[a,]", "a[?b", "f(a,"])

    def pair(self):
        depth = self.rng.randint(1, 4)
        expression = self.expression(depth)
        if self.chance(0.07):
            expression = self.mutate(expression)
        return expression, self.document()


# ----- the test ---------------------------------------------------------------------------

def has_unsorted_object(value):
    """Whether `value` holds an object whose keys are not in sorted order: a result where
    an implementation with sorted keys would disagree."""
    if isinstance(value, dict):
        return list(value) != sorted(value) or any(has_unsorted_object(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unsorted_object(v) for v in value)
    return False


def run_cpp(pairs):
    tool = os.environ.get("BERTH_JMESPATH_EVAL") or os.path.join(
        os.environ.get("BERTH_BUILD_DIR", "build-dev"), "tests", "berth-jmespath-eval")
    lines = "".join(json.dumps({"expression": e, "document": d}) + "\n" for e, d in pairs)
    done = subprocess.run([tool], input=lines.encode(), capture_output=True, timeout=120,
                          check=True)
    outputs = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(outputs) == len(pairs), done.stderr.decode()
    return outputs


def test_cpp_agrees_with_reference_implementation():
    generator = Generator(SEED)
    pairs = [generator.pair() for _ in range(PAIRS)]
    cpp = run_cpp(pairs)

    compared = 0
    meaningful = 0
    unsorted = 0
    skipped = []
    disagreements = []
    error_kinds = set()
    calls = {name: 0 for name in FUNCTION_ARITY}
    for (expression, document), got in zip(pairs, cpp):
        kind, expected = oracle(expression, document)
        if kind == "skip":
            skipped.append(expression)
            continue
        compared += 1
        for name in calls:
            if name + "(" in expression:
                calls[name] += 1
        if kind == "error":
            error_kinds.add(expected)
            ok = got.get("error") == expected
        else:
            ok = "result" in got and same(expected, got["result"])
            if expected is not None:
                meaningful += 1
            if has_unsorted_object(expected):
                unsorted += 1
        if not ok:
            disagreements.append((expression, document, kind, expected, got))

    report = "\n".join(
        "expression: %r\ndocument:   %s\npython:     %s %s\nc++:        %s\n" % (
            e, json.dumps(d), k, json.dumps(x), json.dumps(g))
        for e, d, k, x, g in disagreements[:20])
    assert not disagreements, "%d of %d pairs disagree; the first ones:\n%s" % (
        len(disagreements), compared, report)
    assert compared >= 10000
    assert len(skipped) <= compared // 100, skipped[:10]
    assert meaningful > compared * 0.2, (meaningful, compared)
    assert unsorted > compared * 0.05, (unsorted, compared)
    assert error_kinds == {"syntax", "invalid-type", "invalid-arity", "unknown-function",
                           "invalid-value"}, error_kinds
    rare = {name: n for name, n in calls.items() if n < 50}
    assert not rare, rare
    print("compared %d pairs: %d non-null results, %d with keys out of sorted order, %d skipped"
          % (compared, meaningful, unsorted, len(skipped)))
