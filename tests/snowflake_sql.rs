//! Snowflake SQL on DuckDB (`kbstack::sql_dialect`): typical Keboola transformation scripts are
//! translated, run on the transformation engine (a locked-down `SqlSession` with an input table
//! as a view, as the runner does) and their result table compared with what Snowflake gives.
//! Needs a Python with sqlglot (the test venv scripts/test fills); skipped without one.
mod common;

use std::time::Instant;

use kbstack::sql_dialect::{SnowflakeToDuckDb, TranslateError};
use kbstack_store::transform::{InputSource, SqlSession};

const ORDERS: &str = "id,Customer Name,amount,created_at,status,payload\n\
1,Ann Lee,10.50,2024-01-05,paid,\"{\"\"channel\"\": \"\"web\"\", \"\"items\"\": [{\"\"sku\"\": \"\"A\"\"}]}\"\n\
2,Bob Day,abc,2024-02-10,,\"{\"\"channel\"\": \"\"shop\"\", \"\"items\"\": [{\"\"sku\"\": \"\"B\"\"}]}\"\n\
3,Ann Lee,99.99,2024-03-01,paid,\"{\"\"channel\"\": \"\"web\"\", \"\"items\"\": []}\"\n";

fn translator() -> Option<SnowflakeToDuckDb> {
    match common::venv_python("sqlglot") {
        Some(python) => Some(SnowflakeToDuckDb::new(&python.display().to_string())),
        None => {
            eprintln!("snowflake_sql: no Python with sqlglot (KBSTACK_TEST_PYTHON or the test venv); not run");
            None
        }
    }
}

/// Run a translated script on a fresh session with `orders` as input; the table `result` as CSV.
fn run(t: &SnowflakeToDuckDb, script: &str) -> String {
    let root = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(root.path()).unwrap();
    let data = base.join("data");
    std::fs::create_dir_all(data.join("in/tables")).unwrap();
    std::fs::create_dir_all(data.join("out/tables")).unwrap();
    std::fs::create_dir_all(base.join("tmp")).unwrap();
    let input = data.join("in/tables/orders.csv");
    std::fs::write(&input, ORDERS).unwrap();
    let session = SqlSession::open().unwrap();
    session.create_input_view("orders", &InputSource::File(&input)).unwrap();
    session.lock_down(&data, &base.join("tmp")).unwrap();
    let translation = t.translate(script).unwrap_or_else(|e| panic!("{e}\n{script}"));
    for s in &translation.statements {
        session.run(&s.duckdb).unwrap_or_else(|e| panic!("{e}\nSnowflake: {}\nDuckDB: {}", s.snowflake, s.duckdb));
    }
    let out = data.join("out/tables/result.csv");
    session.copy_to_csv("result", &out).unwrap();
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn typical_keboola_scripts_give_snowflakes_results() {
    let Some(t) = translator() else { return };
    // PARSE_JSON, `:` paths and FLATTEN need DuckDB's json extension, which the engine may be
    // built without (the duckdb crate's `json` feature): those cases are then only translated.
    let json = SqlSession::open().unwrap().run("SELECT json('1')").is_ok();
    if !json {
        eprintln!("snowflake_sql: the DuckDB engine has no json extension; the JSON cases are translated, not run");
    }
    let cases: &[(&str, &str, &str)] = &[
        (
            "a whole transformation: session statements, quoted identifiers, ::, TRY_TO_NUMBER, TO_DATE, NVL, LISTAGG, IFF, DATEDIFF, DATEADD, TO_VARCHAR, SPLIT_PART",
            r#"ALTER SESSION SET TIMEZONE = 'UTC';
ALTER SESSION SET MULTI_STATEMENT_COUNT = 0;
USE WAREHOUSE "KEBOOLA_PROD";
-- a typed copy of the input
CREATE OR REPLACE TABLE "typed" AS
SELECT "id"::INTEGER AS "id",
       "Customer Name" AS "Customer",
       TRY_TO_NUMBER("amount", 10, 2) AS "amount",
       TO_DATE("created_at") AS "created",
       NVL("status", 'unknown') AS "status"
FROM "orders";
CREATE OR REPLACE TABLE "result" AS
SELECT "Customer",
       LISTAGG("id"::VARCHAR, ',') WITHIN GROUP (ORDER BY "id") AS "ids",
       SUM(IFNULL("amount", 0)) AS "total",
       IFF(SUM(IFNULL("amount", 0)) > 100, 'big', 'small') AS "size",
       DATEDIFF(day, MIN("created"), MAX("created")) AS "span_days",
       TO_VARCHAR(DATEADD(month, 1, MIN("created")), 'YYYY-MM-DD') AS "next_month",
       SPLIT_PART(MIN("Customer"), ' ', 1) AS "first_name",
       LISTAGG(DISTINCT "status", '|') WITHIN GROUP (ORDER BY "status") AS "statuses"
FROM "typed" GROUP BY "Customer" ORDER BY "Customer";"#,
            "Customer,ids,total,size,span_days,next_month,first_name,statuses\n\
             Ann Lee,\"1,3\",110.49,big,56,2024-02-05,Ann,paid\n\
             Bob Day,2,0.00,small,0,2024-03-10,Bob,unknown\n",
        ),
        (
            "QUALIFY",
            r#"CREATE OR REPLACE TABLE "result" AS SELECT "Customer Name", "id" FROM "orders"
               QUALIFY ROW_NUMBER() OVER (PARTITION BY "Customer Name" ORDER BY "created_at" DESC) = 1 ORDER BY "id";"#,
            "Customer Name,id\nBob Day,2\nAnn Lee,3\n",
        ),
        (
            "TRY_TO_NUMBER / TRY_TO_DECIMAL with and without scale",
            r#"CREATE TABLE "result" AS SELECT "id", TRY_TO_NUMBER("amount") AS n, TRY_TO_NUMBER("amount", 10, 2) AS d,
               TRY_TO_DECIMAL("amount", 10, 1) AS d1 FROM "orders" ORDER BY "id""#,
            "id,n,d,d1\n1,11,10.50,10.5\n2,,,\n3,100,99.99,100.0\n",
        ),
        (
            "date functions",
            r#"CREATE TABLE "result" AS SELECT DATEADD(day, 30, '2024-01-15'::DATE) AS a, DATEADD('month', 1, TO_DATE('2024-01-31')) AS b,
               DATEDIFF(month, '2024-01-31'::DATE, '2024-02-01'::DATE) AS c,
               DATEDIFF(day, TO_TIMESTAMP('2024-01-01 23:00:00'), TO_TIMESTAMP('2024-01-02 01:00:00')) AS d,
               DATE_TRUNC('MONTH', '2024-05-17'::DATE) AS e, TO_CHAR(TO_DATE('2024-05-17'), 'DD.MM.YYYY') AS f,
               YEAR(TO_DATE('2024-05-17')) AS g, LAST_DAY(TO_DATE('2024-02-10')) AS h, TO_DATE('17/05/2024', 'DD/MM/YYYY') AS i,
               DATEADD(hour, 2, TO_TIMESTAMP('2024-01-01 23:00:00')) AS j"#,
            "a,b,c,d,e,f,g,h,i,j\n2024-02-14,2024-02-29,1,1,2024-05-01,17.05.2024,2024,2024-02-29,2024-05-17,2024-01-02 01:00:00\n",
        ),
        (
            "NVL / IFNULL / NVL2 / DECODE / SPLIT_PART / TO_VARCHAR / ||",
            r#"CREATE TABLE "result" AS SELECT "id", NVL("status", 'none') AS a, IFNULL("status", 'none') AS b,
               NVL2("status", 'set', 'unset') AS c, SPLIT_PART("Customer Name", ' ', 2) AS d, TO_VARCHAR("id"::INT + 1) AS e,
               "amount"::VARCHAR || '!' AS f, DECODE("id", '1', 'one', '2', 'two', 'many') AS g,
               UPPER(LEFT("Customer Name", 3)) AS h, COALESCE(TRY_TO_NUMBER("amount"), 0)::INT AS i
               FROM "orders" ORDER BY "id""#,
            "id,a,b,c,d,e,f,g,h,i\n1,paid,paid,set,Lee,2,10.50!,one,ANN,11\n2,none,none,unset,Day,3,abc!,two,BOB,0\n3,paid,paid,set,Lee,4,99.99!,many,ANN,100\n",
        ),
        (
            "PARSE_JSON and : path access, ARRAY_SIZE",
            r#"CREATE TABLE "result" AS SELECT "id", PARSE_JSON("payload"):channel::STRING AS channel,
               PARSE_JSON("payload"):items[0].sku::STRING AS first_sku, ARRAY_SIZE(PARSE_JSON("payload"):items) AS n
               FROM "orders" ORDER BY "id""#,
            "id,channel,first_sku,n\n1,web,A,1\n2,shop,B,1\n3,web,,0\n",
        ),
        (
            "TO_VARCHAR of a text column with a date format",
            r#"CREATE TABLE "result" AS SELECT "id", TO_VARCHAR("created_at", 'DD.MM.YYYY') AS dmy, TO_CHAR("created_at"::DATE, 'MON YYYY') AS m
               FROM "orders" ORDER BY "id""#,
            "id,dmy,m\n1,05.01.2024,Jan 2024\n2,10.02.2024,Feb 2024\n3,01.03.2024,Mar 2024\n",
        ),
        (
            "LATERAL FLATTEN of a JSON array (OUTER keeps rows without items)",
            r#"CREATE TABLE "result" AS SELECT o."id", f.index AS i, f.value:sku::STRING AS sku, f.value::STRING AS item
               FROM "orders" o, LATERAL FLATTEN(input => PARSE_JSON(o."payload"):items, outer => TRUE) f ORDER BY 1, 2"#,
            "id,i,sku,item\n1,0,A,\"{\"\"sku\"\":\"\"A\"\"}\"\n2,0,B,\"{\"\"sku\"\":\"\"B\"\"}\"\n3,,,\n",
        ),
        (
            "semi-structured column types",
            r#"CREATE TABLE "events" ("id" VARCHAR(16777216), "data" VARIANT, "tags" ARRAY, "n" NUMBER(38,0));
               INSERT INTO "events" SELECT '1', PARSE_JSON('{"a": {"b": "deep"}}'), PARSE_JSON('["x"]'), 7;
               CREATE TABLE "result" AS SELECT "id", "data":a.b::STRING AS b, "n" FROM "events""#,
            "id,b,n\n1,deep,7\n",
        ),
        (
            "quoted identifiers keep their case",
            r#"CREATE TABLE "Mixed" AS SELECT 1 AS "MixedCase", 2 AS lower_alias;
               CREATE TABLE "result" AS SELECT "MixedCase", lower_alias, "MixedCase" + 1 AS "Next" FROM "Mixed";"#,
            "MixedCase,lower_alias,Next\n1,2,2\n",
        ),
        (
            "session variables",
            r#"SET city = 'Ann Lee'; CREATE TABLE "result" AS SELECT "id" FROM "orders" WHERE "Customer Name" = $city ORDER BY "id";"#,
            "id\n1\n3\n",
        ),
        (
            ":: casts to Snowflake types",
            r#"CREATE TABLE "result" AS SELECT '42'::NUMBER AS a, '3.14159'::NUMBER(10,2) AS b, '2024-01-01 10:11:12'::TIMESTAMP_NTZ AS c,
               1::BOOLEAN AS d, CAST('7' AS INT) + 1 AS e, TRY_CAST('x' AS INT) AS f, 'x'::VARCHAR(16777216) AS g"#,
            "a,b,c,d,e,f,g\n42,3.14,2024-01-01 10:11:12,true,8,,x\n",
        ),
        (
            "CREATE OR REPLACE TABLE ... AS, views, INSERT",
            r#"CREATE OR REPLACE TABLE "result" AS SELECT 1 AS x; CREATE OR REPLACE TABLE "result" AS SELECT 2 AS x;
               CREATE OR REPLACE VIEW "v" AS SELECT x * 10 AS y FROM "result"; INSERT INTO "result" SELECT y FROM "v";"#,
            "x\n2\n20\n",
        ),
    ];
    for (name, script, expected) in cases {
        if !json && (script.contains("PARSE_JSON") || script.contains("VARIANT")) {
            t.translate(script).unwrap_or_else(|e| panic!("{name}: {e}"));
            continue;
        }
        let got = run(&t, script);
        assert_eq!(got, *expected, "{name}: {:#?}", t.translate(script).unwrap().statements);
    }
}

#[test]
fn session_statements_are_dropped_with_a_note() {
    let Some(t) = translator() else { return };
    let tr = t
        .translate("ALTER SESSION SET MULTI_STATEMENT_COUNT = 0;\nuse role \"R\"; USE WAREHOUSE w; USE SCHEMA s; SELECT 'a;b' AS \"x;y\"; -- done")
        .unwrap();
    let dropped: Vec<&str> = tr.dropped.iter().map(|d| d.snowflake.as_str()).collect();
    assert_eq!(dropped, ["ALTER SESSION SET MULTI_STATEMENT_COUNT = 0", "use role \"R\"", "USE WAREHOUSE w", "USE SCHEMA s"]);
    assert!(tr.dropped.iter().all(|d| !d.reason.is_empty()));
    assert_eq!(tr.statements.len(), 1);
    assert_eq!(tr.statements[0].snowflake, "SELECT 'a;b' AS \"x;y\"");
    // Comments and empty scripts are nothing to run.
    assert_eq!(t.translate("  -- nothing\n/* here */ ;").unwrap(), Default::default());
}

#[test]
fn untranslatable_statements_are_named() {
    let Some(t) = translator() else { return };
    for (script, statement, reason) in [
        ("SELECT 1; CREATE STAGE my_stage; SELECT 2", "CREATE STAGE my_stage", "STAGE"),
        ("COPY INTO t FROM @my_stage", "COPY INTO t FROM @my_stage", "stages"),
        ("PUT file:///tmp/x.csv @my_stage", "PUT file:///tmp/x.csv @my_stage", "stages"),
        ("GRANT SELECT ON TABLE t TO ROLE r", "GRANT SELECT ON TABLE t TO ROLE r", "privileges"),
        ("CALL my_procedure(1)", "CALL my_procedure(1)", "not supported"),
        ("SELECT 1;\nSELECT FROM WHERE;", "SELECT FROM WHERE", "cannot parse"),
        ("SELECT TO_VARCHAR(n, '999.99') FROM t", "SELECT TO_VARCHAR(n, '999.99') FROM t", "TO_VARCHAR(col::DATE"),
    ] {
        match t.translate(script) {
            Err(TranslateError::Untranslatable { statement: s, reason: r }) => {
                assert_eq!(s, statement, "{script}");
                assert!(r.contains(reason), "{script}: {r}");
            }
            other => panic!("{script}: {other:?}"),
        }
    }
}

/// The worker answers in milliseconds once started; the cache in microseconds.
#[test]
fn translation_latency() {
    let Some(t) = translator() else { return };
    let script = "CREATE OR REPLACE TABLE \"out\" AS SELECT \"id\", IFF(\"a\" > 1, 'x', 'y') AS \"k\", TRY_TO_NUMBER(\"b\") AS n FROM \"in\" QUALIFY ROW_NUMBER() OVER (PARTITION BY \"id\" ORDER BY \"b\") = 1";
    let started = Instant::now();
    t.translate(script).unwrap();
    let first = started.elapsed();
    let mut warm = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        t.translate(&format!("{script} AND {i} = {i}")).unwrap();
        warm.push(started.elapsed());
    }
    warm.sort();
    let started = Instant::now();
    t.translate(script).unwrap();
    let cached = started.elapsed();
    eprintln!("snowflake_sql latency: first call {first:?} (Python start + sqlglot import), warm median {:?} max {:?}, cached {cached:?}", warm[10], warm[19]);
    assert!(warm[10].as_millis() < 500, "warm median {:?}", warm[10]);
    assert!(cached < warm[0], "cached {cached:?} vs warm {:?}", warm[0]);
}
