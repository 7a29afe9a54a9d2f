"""kbstack's Snowflake -> DuckDB SQL translator (sqlglot), run as a long-lived worker by
src/sql_dialect/worker.rs: one JSON request a line on stdin ({"sql": "..."}), one JSON answer a
line on stdout. The first line it writes says whether sqlglot could be imported.

An answer: {"statements": [{"snowflake": ..., "duckdb": ...}], "dropped": [{"snowflake": ...,
"reason": ...}], "error": null or {"statement": ..., "reason": ...}} - the statements in order,
session statements dropped, and the first statement that has no DuckDB translation."""
import json
import logging
import re
import sys

# sqlglot logs "falling back to parsing as a Command" warnings; those statements are reported.
logging.disable(logging.CRITICAL)

try:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError
    from sqlglot.dialects.dialect import build_timetostr_or_tochar
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.tokens import TokenType
except ImportError as e:  # the Rust side turns this into "install sqlglot"
    sys.stdout.write(json.dumps({"ready": False, "error": str(e)}) + "\n")
    sys.stdout.flush()
    sys.exit(0)

SNOWFLAKE = sqlglot.Dialect.get_or_raise("snowflake")

# CREATE kinds that mean the same on DuckDB; the rest (STAGE, WAREHOUSE, TASK, STREAM, PIPE,
# FILE FORMAT, ...) are Snowflake account objects.
CREATE_KINDS = {"TABLE", "VIEW", "SCHEMA", "SEQUENCE"}

SEMI_STRUCTURED = {exp.DataType.Type.VARIANT, exp.DataType.Type.OBJECT, exp.DataType.Type.ARRAY}

# Snowflake date and time format elements (a number format has none of them).
DATE_PARTS = re.compile(r"YYYY|YY|MM|MON|DD|DY|HH|MI|SS|FF")


def statements(sql):
    """The statements of a script: the source text from each one's first to its last token
    (comments around it left out), split at the semicolons the tokenizer sees (so not inside
    strings, quoted identifiers or comments)."""
    out, first, last = [], None, None
    for token in SNOWFLAKE.tokenize(sql):
        if token.token_type == TokenType.SEMICOLON:
            if first is not None:
                out.append(sql[first.start : last.end + 1])
            first = last = None
            continue
        first = first or token
        last = token
    if first is not None:
        out.append(sql[first.start : last.end + 1])
    return out


def session_statement(text):
    """Why a statement is dropped: session settings, which have no meaning on DuckDB (a
    transformation's warehouse, role, database and schema are the job's own)."""
    words = text.split(None, 2)
    head = [w.upper() for w in words[:2]]
    if head[:1] == ["USE"]:
        return "USE has no meaning on DuckDB (the job has one database and schema)"
    if head == ["ALTER", "SESSION"]:
        return "session parameters have no meaning on DuckDB"
    return None


def snowflake_only(tree):
    """Why a parsed statement has no DuckDB counterpart, or None."""
    if isinstance(tree, exp.Command):
        return "not supported outside Snowflake (or not understood by the translator)"
    if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper() not in CREATE_KINDS:
        return f"CREATE {tree.args.get('kind')} is a Snowflake account object"
    if isinstance(tree, (exp.Grant, exp.Revoke)):
        return "privileges are not managed in SQL here"
    if isinstance(tree, (exp.Copy, exp.Put, exp.Get)):
        return "stages and COPY INTO are not available; use the input and output mapping"
    return None


def session_variables(tree):
    """Snowflake's `$name` session variables read with DuckDB's getvariable('name') (SET name = ...
    becomes SET VARIABLE name = ... by itself)."""

    def replace(node):
        if isinstance(node, exp.Parameter) and isinstance(node.this, (exp.Var, exp.Identifier)):
            return exp.Anonymous(this="getvariable", expressions=[exp.Literal.string(node.this.name)])
        return node

    return tree.transform(replace)


def snowflake_types(tree):
    """Where DuckDB's result type differs from Snowflake's, keep Snowflake's. DATEADD of days,
    months... to a DATE is a DATE in Snowflake (DuckDB's date + interval is a timestamp);
    ARRAY_SIZE of a JSON value is DuckDB's json_array_length. Only for statements that have them:
    the type annotation costs time."""
    if not tree.find(exp.DateAdd, exp.ArraySize):
        return tree
    tree = annotate_types(tree, dialect=SNOWFLAKE)
    for node in list(tree.find_all(exp.DateAdd)):
        if node.type and node.type.this == exp.DataType.Type.DATE:
            node.replace(exp.cast(node.copy(), exp.DataType.Type.DATE))
    for node in list(tree.find_all(exp.ArraySize)):
        if isinstance(node.this, (exp.JSONExtract, exp.ParseJSON)):
            node.replace(exp.Anonymous(this="json_array_length", expressions=[node.this.copy()]))
    return tree


def date_formats(tree):
    """TO_VARCHAR(value, 'YYYY-MM-DD') of a value whose type is unknown (a column): sqlglot cannot
    tell a date format from a number format without it. A format with date parts means a date or
    timestamp, so the value is read as a timestamp."""
    for node in list(tree.find_all(exp.ToChar)):
        fmt = node.args.get("format")
        if isinstance(fmt, exp.Literal) and DATE_PARTS.search(fmt.name.upper()):
            value = exp.cast(node.this.copy(), exp.DataType.Type.TIMESTAMP)
            # How sqlglot's Snowflake parser reads TO_VARCHAR of a typed value.
            node.replace(build_timetostr_or_tochar([value, fmt.copy()], SNOWFLAKE))
    return tree


class Untranslatable(Exception):
    pass


def flatten(tree):
    """LATERAL FLATTEN(input => ...) and TABLE(FLATTEN(...)) as a lateral subquery over DuckDB's
    json_each with FLATTEN's columns (KEY, PATH, INDEX, VALUE, THIS); OUTER => TRUE as a left
    join. The names of the VALUE columns, whose casts read the JSON as text (`json_casts`)."""
    values = set()
    for node in list(tree.find_all(exp.Lateral, exp.TableFromRows)):
        explode = node.this
        if not isinstance(explode, exp.Explode):
            continue
        source, outer = None, False
        for arg in [explode.this, *explode.expressions]:
            if isinstance(arg, exp.Kwarg):
                key = arg.this.name.lower()
                if key == "input":
                    source = arg.expression
                elif key == "outer":
                    outer = isinstance(arg.expression, exp.Boolean) and arg.expression.this
                else:
                    raise Untranslatable(f"FLATTEN's {key.upper()} argument is not supported on DuckDB yet")
            elif source is None:
                source = arg
        if source is None:
            raise Untranslatable("FLATTEN without an input")
        alias = node.args.get("alias")
        name = alias.name if alias and alias.name else "flatten"
        value = duckdb_sql(source.copy())
        sub = (
            f"SELECT CASE WHEN json_type({value}) = 'ARRAY' THEN NULL ELSE je.key END AS key, "
            f"ltrim(substr(je.fullkey, 2), '.') AS path, "
            f"CASE WHEN json_type({value}) = 'ARRAY' THEN CAST(je.key AS BIGINT) END AS \"index\", "
            f"je.value AS value, {value} AS this FROM json_each({value}) AS je"
        )
        lateral = sqlglot.parse_one(f"SELECT * FROM x, LATERAL ({sub}) AS {exp.to_identifier(name).sql('duckdb')}", read="duckdb")
        replacement = lateral.args["joins"][0].this
        join = node.parent
        node.replace(replacement)
        if outer and isinstance(join, exp.Join):
            join.set("side", "LEFT")
            join.set("kind", None)
            join.set("on", exp.true())
        values.add(name.lower())
    return values


def json_casts(tree, flattened):
    """`value:path::STRING` is the value itself in Snowflake ('web'), but a cast of DuckDB's JSON
    keeps the quotes ('"web"'): a cast reads the path (or a FLATTEN's VALUE) as text (->>) and
    casts that."""
    for node in list(tree.find_all(exp.Cast)):
        inner = node.this
        if isinstance(inner, exp.JSONExtract):
            inner.replace(exp.JSONExtractScalar(this=inner.this.copy(), expression=inner.expression.copy()))
        elif isinstance(inner, exp.Column) and inner.name.lower() == "value" and (inner.table.lower() in flattened or (not inner.table and flattened)):
            inner.replace(exp.JSONExtractScalar(this=inner.copy(), expression=exp.Literal.string("$")))
    return tree


def column_types(tree):
    """Semi-structured columns (VARIANT, OBJECT, ARRAY) hold JSON: DuckDB's JSON type."""
    for column in tree.find_all(exp.ColumnDef):
        kind = column.args.get("kind")
        if isinstance(kind, exp.DataType) and kind.this in SEMI_STRUCTURED and not kind.expressions:
            kind.replace(exp.DataType.build("JSON"))
    return tree


def duckdb_sql(tree):
    flattened = flatten(tree)
    tree = json_casts(snowflake_types(session_variables(column_types(tree))), flattened)
    try:
        return tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as e:
        if "'ToChar'" not in str(e):
            raise
    return date_formats(tree).sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)


def translate(sql):
    answer = {"statements": [], "dropped": [], "error": None}
    try:
        texts = statements(sql)
    except TokenError as e:
        answer["error"] = {"statement": sql.strip(), "reason": f"cannot read the SQL: {e}"}
        return answer
    for text in texts:
        reason = session_statement(text)
        if reason:
            answer["dropped"].append({"snowflake": text, "reason": reason})
            continue
        try:
            trees = [t for t in sqlglot.parse(text, read=SNOWFLAKE) if t is not None]
            if len(trees) != 1:
                raise ParseError("not one statement")
            tree = trees[0]
            reason = snowflake_only(tree)
            if reason is None:
                duckdb = duckdb_sql(tree)
                answer["statements"].append({"snowflake": text, "duckdb": duckdb})
                continue
        except ParseError as e:
            first = e.errors[0] if getattr(e, "errors", None) else {}
            reason = f"cannot parse it as Snowflake SQL: {first.get('description') or e}"
            if first.get("line"):
                reason += f" (line {first['line']}, column {first.get('col')})"
        except Untranslatable as e:
            reason = str(e)
        except UnsupportedError as e:
            reason = f"no DuckDB equivalent: {e}"
            if "'ToChar'" in str(e):  # the format depends on the value's type, unknown for a column
                reason += " Give the value a type, e.g. TO_VARCHAR(col::DATE, 'YYYY-MM-DD')."
        except Exception as e:  # a translator bug is still this statement's problem
            reason = f"the translator failed: {type(e).__name__}: {e}"
        answer["error"] = {"statement": text, "reason": reason}
        return answer
    return answer


def main():
    sys.stdout.write(json.dumps({"ready": True, "sqlglot": sqlglot.__version__}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin.buffer:
        try:
            answer = translate(json.loads(line)["sql"])
        except Exception as e:
            answer = {"failed": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


main()
