//! Typed tables and exports as keboola-cli (kbagent) and keboola-mcp-server read them: the
//! `KBC.datatype.*` column metadata of typed tables, the failed job for a name already taken,
//! Snowflake type names in `tables-definition`, and Parquet exports.
mod common;

use common::{Server, parse_connection_string};
use serde_json::{Value, json};

fn bucket(s: &Server, name: &str) -> String {
    let (st, b) = s.post_json("buckets", json!({"name": name, "stage": "in"}));
    assert_eq!(st, 201, "{b}");
    b["id"].as_str().unwrap().to_string()
}

/// `tables-definition` and its finished job.
fn define(s: &Server, bucket: &str, body: Value) -> Value {
    let (st, job) = s.post_json(&format!("buckets/{bucket}/tables-definition"), body);
    assert_eq!(st, 202, "{job}");
    s.wait_job(&job)
}

/// `{key: value}` of one column's items from `provider`.
fn datatype_of(column_metadata: &Value, column: &str) -> serde_json::Map<String, Value> {
    let items = column_metadata[column].as_array().unwrap_or_else(|| panic!("no metadata for {column}: {column_metadata}"));
    items.iter().filter(|i| i["provider"] == "storage").map(|i| (i["key"].as_str().unwrap().to_string(), i["value"].clone())).collect()
}

#[test]
fn typed_tables_carry_kbc_datatype_column_metadata_everywhere() {
    let s = Server::start();
    let b = bucket(&s, "typed");
    let job = define(
        &s,
        &b,
        json!({"name": "orders", "primaryKeysNames": ["id"], "columns": [
            {"name": "id", "definition": {"type": "INTEGER", "nullable": false}},
            {"name": "amount", "definition": {"type": "NUMBER", "length": "12,2"}},
            {"name": "note", "definition": {"type": "VARCHAR(40)"}},
            {"name": "seen", "basetype": "TIMESTAMP"}
        ]}),
    );
    assert_eq!(job["status"], "success", "{job}");
    // The job's result, the detail and both listings carry the same object keyed by column.
    let (st, detail) = s.get("tables/in.c-typed.orders");
    assert_eq!(st, 200, "{detail}");
    for cm in [&job["results"]["columnMetadata"], &detail["columnMetadata"]] {
        assert!(cm.is_object(), "columnMetadata is an object: {cm}");
        let id = datatype_of(cm, "id");
        assert_eq!(id["KBC.datatype.type"], "INTEGER");
        assert_eq!(id["KBC.datatype.nullable"], "0");
        assert_eq!(id["KBC.datatype.basetype"], "INTEGER");
        assert!(!id.contains_key("KBC.datatype.length"), "no length was given: {id:?}");
        let amount = datatype_of(cm, "amount");
        assert_eq!((&amount["KBC.datatype.type"], &amount["KBC.datatype.length"]), (&json!("NUMBER"), &json!("12,2")));
        assert_eq!((&amount["KBC.datatype.basetype"], &amount["KBC.datatype.nullable"]), (&json!("NUMERIC"), &json!("1")));
        let note = datatype_of(cm, "note");
        assert_eq!((&note["KBC.datatype.type"], &note["KBC.datatype.length"]), (&json!("VARCHAR"), &json!("40")));
        assert_eq!(datatype_of(cm, "seen")["KBC.datatype.basetype"], "TIMESTAMP");
    }
    let item = &detail["columnMetadata"]["id"][0];
    assert!(item["id"].is_string() && item["timestamp"].is_string(), "a full metadata item: {item}");
    assert_eq!(detail["definition"]["columns"][2]["definition"], json!({"type": "VARCHAR", "nullable": true, "length": "40", "default": null}));
    for path in ["tables?include=columnMetadata", "buckets/in.c-typed/tables?include=columns,columnMetadata"] {
        let (st, list) = s.get(path);
        assert_eq!(st, 200, "{list}");
        assert_eq!(datatype_of(&list[0]["columnMetadata"], "amount")["KBC.datatype.length"], "12,2", "{path}");
    }
    // They are real column metadata: the column metadata API lists them, and other providers' items sit beside them.
    let (_, items) = s.get("columns/in.c-typed.orders.amount/metadata");
    assert!(items.as_array().unwrap().iter().any(|i| i["key"] == "KBC.datatype.type" && i["provider"] == "storage"), "{items}");
    let (st, _) = s.post_json("columns/in.c-typed.orders.amount/metadata", json!({"provider": "user", "metadata": [{"key": "KBC.description", "value": "money"}]}));
    assert_eq!(st, 201);
    let (_, detail) = s.get("tables/in.c-typed.orders");
    assert_eq!(detail["columnMetadata"]["amount"].as_array().unwrap().len(), 5, "{}", detail["columnMetadata"]);

    // A column added later gets its own.
    let (st, job) = s.post_json("tables/in.c-typed.orders/columns", json!({"name": "shipped", "definition": {"type": "DATE"}}));
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let shipped = datatype_of(&job["results"]["columnMetadata"], "shipped");
    assert_eq!((&shipped["KBC.datatype.type"], &shipped["KBC.datatype.basetype"]), (&json!("DATE"), &json!("DATE")));
    let (st, r) = s.post_form("tables/in.c-typed.orders/import", &[("dataString", "id,amount,note,seen,shipped\n1,1.5,x,2024-01-02 03:04:05,2024-02-03\n")]);
    assert_eq!(st, 200, "{r}");
    assert_eq!(s.preview_rows("in.c-typed.orders", ""), [["1", "1.50", "x", "2024-01-02 03:04:05", "2024-02-03"]]);
    let (st, body) = s.post_json("tables/in.c-typed.orders/columns", json!({"name": "bad", "definition": {"type": "NOPE"}}));
    assert_eq!((st, body["error"].as_str()), (400, Some("'NOPE' is not a valid type")), "{body}");
    // Dropping the column drops its metadata.
    let (_, job) = s.delete("tables/in.c-typed.orders/columns/shipped");
    assert_eq!(s.wait_job(&job)["status"], "success");
    let (_, detail) = s.get("tables/in.c-typed.orders");
    assert!(detail["columnMetadata"].get("shipped").is_none(), "{}", detail["columnMetadata"]);

    // Untyped tables have no datatype items: an empty map, as an object (keboola-mcp-server reads
    // it with `.get`).
    let (st, t) = s.post_form("buckets/in.c-typed/tables", &[("name", "plain"), ("dataString", "a,b\n1,2\n")]);
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["columnMetadata"], json!({}));
    let (st, job) = s.post_json("tables/in.c-typed.plain/columns", json!({"name": "c"}));
    assert_eq!(st, 202);
    assert_eq!(s.wait_job(&job)["results"]["columnMetadata"], json!({}));
}

#[test]
fn a_taken_name_fails_the_definition_job_as_keboola_words_it() {
    let s = Server::start();
    let b = bucket(&s, "dups");
    let body = json!({"name": "users", "columns": [{"name": "id", "definition": {"type": "INTEGER"}}]});
    assert_eq!(define(&s, &b, body.clone())["status"], "success");
    // The second create is accepted (202) and its job fails with the text clients match on.
    let job = define(&s, &b, body);
    assert_eq!(job["status"], "error", "{job}");
    assert_eq!(job["error"]["code"], "storage.buckets.tableAlreadyExists");
    assert_eq!(job["error"]["message"], "The table \"users\" in the bucket already has the same display name \"users\".");
    // A display name counts as taken too, for creates and for renames.
    let (st, t) = s.put_json("tables/in.c-dups.users", json!({"displayName": "people"}));
    assert_eq!(st, 200, "{t}");
    let job = define(&s, &b, json!({"name": "people", "columns": [{"name": "id"}]}));
    assert_eq!(job["error"]["message"], "The table \"users\" in the bucket already has the same display name \"people\".", "{job}");
    define(&s, &b, json!({"name": "other", "columns": [{"name": "id"}]}));
    let (st, err) = s.put_json("tables/in.c-dups.other", json!({"displayName": "people"}));
    assert_eq!((st, err["code"].as_str()), (400, Some("storage.buckets.tableAlreadyExists")), "{err}");
    // Untyped creates keep answering at once, with the same code and text.
    let (st, err) = s.post_form("buckets/in.c-dups/tables", &[("name", "users"), ("dataString", "a\n1\n")]);
    assert_eq!((st, err["code"].as_str()), (400, Some("storage.buckets.tableAlreadyExists")), "{err}");
    assert!(err["error"].as_str().unwrap().contains("already has the same display name"), "{err}");
}

#[test]
fn snowflake_type_names_are_accepted_with_their_lengths() {
    let s = Server::start();
    let b = bucket(&s, "sf");
    let columns = [
        ("v", "VARIANT", None, "STRING"),
        ("o", "OBJECT", None, "STRING"),
        ("a", "ARRAY", None, "STRING"),
        ("n", "NUMBER(10,2)", None, "NUMERIC"),
        ("nb", "NUMBER", None, "NUMERIC"),
        ("d", "DECIMAL", Some("5,1"), "NUMERIC"),
        ("ntz", "TIMESTAMP_NTZ", None, "TIMESTAMP"),
        ("ltz", "TIMESTAMP_LTZ", None, "TIMESTAMP"),
        ("tz", "TIMESTAMP_TZ", Some("3"), "TIMESTAMP"),
        ("vc", "VARCHAR(20)", None, "STRING"),
        ("tx", "TEXT", None, "STRING"),
        ("bin", "BINARY", None, "STRING"),
        ("geo", "GEOGRAPHY", None, "STRING"),
        ("tm", "TIME", None, "TIMESTAMP"),
        ("dt", "DATE", None, "DATE"),
        ("f", "FLOAT", None, "FLOAT"),
        ("bo", "BOOLEAN", None, "BOOLEAN"),
        ("i", "BIGINT", None, "INTEGER"),
    ];
    let defs: Vec<Value> = columns
        .iter()
        .map(|(name, ty, length, _)| json!({"name": name, "definition": {"type": ty, "length": length}}))
        .collect();
    let job = define(&s, &b, json!({"name": "all_types", "columns": defs}));
    assert_eq!(job["status"], "success", "{job}");
    let def_cols = job["results"]["definition"]["columns"].as_array().unwrap();
    for ((name, ty, _, base), col) in columns.iter().zip(def_cols) {
        assert_eq!(col["basetype"], *base, "{name}");
        let kept = ty.split('(').next().unwrap();
        assert_eq!(col["definition"]["type"], kept, "{name} keeps its Snowflake name");
        assert_eq!(datatype_of(&job["results"]["columnMetadata"], name)["KBC.datatype.type"], kept);
    }
    assert_eq!(def_cols[3]["definition"]["length"], "10,2");
    let row = [
        r#""{""k"": 1}""#, r#""{""a"": 2}""#, "\"[1,2]\"", "1.555", "1.5", "1234.56", "2024-01-02 03:04:05", "2024-01-02 03:04:05",
        "2024-01-02 03:04:05+02:00", "short", "long text", "0A0B", "POINT(1 2)", "12:34:56", "2024-05-06", "0.25", "true", "9",
    ];
    let header: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let csv = format!("{}\n{}\n", header.join(","), row.join(","));
    let (st, r) = s.post_form("tables/in.c-sf.all_types/import", &[("dataString", &csv)]);
    assert_eq!(st, 200, "{r}");
    let got = &s.preview_rows("in.c-sf.all_types", "")[0];
    let by_name = |n: &str| got[header.iter().position(|h| *h == n).unwrap()].as_str();
    assert_eq!(by_name("v"), r#"{"k": 1}"#);
    assert_eq!(by_name("n"), "1.56", "NUMBER(10,2) rounds to its scale");
    assert_eq!(by_name("nb"), "2", "a bare NUMBER is NUMBER(38,0), as on Snowflake");
    assert_eq!(by_name("d"), "1234.6");
    assert_eq!((by_name("tm"), by_name("dt"), by_name("bo"), by_name("i")), ("12:34:56", "2024-05-06", "true", "9"));
    assert!(by_name("tz").starts_with("2024-01-02 01:04:05"), "TIMESTAMP_TZ keeps the instant: {}", by_name("tz"));
    // A value the type cannot hold fails the load as a user error.
    let bad = csv.replace("2024-05-06", "not-a-date");
    let (st, r) = s.post_form("tables/in.c-sf.all_types/import", &[("dataString", &bad)]);
    assert_eq!(st, 400, "{r}");

    // Unknown types and lengths a type cannot take are refused at once, in Keboola's words.
    for (ty, length, message) in [
        ("FOO", None, "'FOO' is not a valid type"),
        ("INT64", None, "'INT64' is not a valid type"),
        ("INTEGER", Some("10"), "'10' is not valid length for INTEGER"),
        ("NUMBER(39,2)", None, "'39,2' is not valid length for NUMBER"),
        ("VARCHAR", Some("abc"), "'abc' is not valid length for VARCHAR"),
    ] {
        let (st, err) = s.post_json(
            "buckets/in.c-sf/tables-definition",
            json!({"name": "bad", "columns": [{"name": "x", "definition": {"type": ty, "length": length}}]}),
        );
        assert_eq!((st, err["error"].as_str()), (400, Some(message)), "{ty}: {err}");
        assert_eq!(err["code"], "validation.failed");
    }
    // A BigQuery bucket takes BigQuery's names instead.
    let (st, bq) = s.post_json("buckets", json!({"name": "bq", "backend": "bigquery"}));
    assert_eq!(st, 201, "{bq}");
    let job = define(&s, "in.c-bq", json!({"name": "t", "columns": [{"name": "x", "definition": {"type": "INT64"}}, {"name": "y", "definition": {"type": "BIGNUMERIC"}}]}));
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["results"]["definition"]["columns"][0]["basetype"], "INTEGER");
}

/// The file's detail and each slice (manifest entry URL, bytes).
fn sliced_file(s: &Server, id: i64) -> (Value, Vec<(String, Vec<u8>)>) {
    let (st, f) = s.get(&format!("files/{id}?federationToken=1"));
    assert_eq!(st, 200, "{f}");
    let (endpoint, sas) = parse_connection_string(f["absCredentials"]["SASConnectionString"].as_str().unwrap());
    let container = f["absPath"]["container"].as_str().unwrap().to_string();
    let get = |blob: &str| -> Vec<u8> {
        let resp = s.client.get(format!("{endpoint}/{container}/{blob}?{sas}")).send().unwrap();
        assert!(resp.status().is_success(), "GET {blob}: {}", resp.status());
        resp.bytes().unwrap().to_vec()
    };
    let manifest: Value = serde_json::from_slice(&get(&format!("{}manifest", f["absPath"]["name"].as_str().unwrap()))).unwrap();
    let slices = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let url = e["url"].as_str().unwrap().to_string();
            let blob = url.split(&format!("blob.core.windows.net/{container}/")).nth(1).expect("entry in our container").to_string();
            (url, get(&blob))
        })
        .collect();
    (f, slices)
}

fn export(s: &Server, table: &str, form: &[(&str, &str)]) -> (Value, Vec<(String, Vec<u8>)>) {
    let (st, job) = s.post_form(&format!("tables/{table}/export-async"), form);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    sliced_file(s, job["results"]["file"]["id"].as_i64().unwrap())
}

/// The column types and rows (values as text, NULL as "", sorted) of Parquet bytes, read with
/// arrow-rs as a client's pyarrow would.
fn read_parquet(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    use duckdb::arrow::array::RecordBatchReader;
    use duckdb::arrow::util::display::array_value_to_string;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .unwrap()
        .build()
        .unwrap();
    let types: Vec<String> = reader.schema().fields().iter().map(|f| f.data_type().to_string()).collect();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for r in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| if c.is_null(r) { String::new() } else { array_value_to_string(c, r).unwrap() })
                    .collect::<Vec<_>>(),
            );
        }
    }
    rows.sort();
    (types, rows)
}

#[test]
fn parquet_exports_are_sliced_parquet_files() {
    let s = Server::start();
    let b = bucket(&s, "pq");
    let (st, t) = s.post_form(&format!("buckets/{b}/tables"), &[("name", "plain"), ("dataString", "id,name\n1,a\n2,b\n")]);
    assert_eq!(st, 201, "{t}");
    // gzip is ignored: Parquet compresses inside the format, as kbagent expects.
    let (f, slices) = export(&s, "in.c-pq.plain", &[("fileType", "parquet"), ("gzip", "1")]);
    assert_eq!(f["name"], "plain.parquet");
    assert_eq!((f["isSliced"].as_bool(), f["fileType"].as_str()), (Some(true), Some("parquet")), "{f}");
    assert!(!slices.is_empty());
    for (url, bytes) in &slices {
        assert!(url.ends_with(".parquet"), "{url}");
        assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"), "a whole Parquet file per slice");
    }
    let (types, rows) = read_parquet(&slices[0].1);
    assert_eq!(types, ["Utf8", "Utf8"]);
    assert_eq!(rows, [["1", "a"], ["2", "b"]]);
    // Columns, filters and limits apply as to CSV exports; typed tables keep their types.
    define(&s, &b, json!({"name": "typed", "columns": [
        {"name": "id", "definition": {"type": "INTEGER"}},
        {"name": "price", "definition": {"type": "NUMBER", "length": "8,2"}},
        {"name": "day", "definition": {"type": "DATE"}}
    ]}));
    let (st, r) = s.post_form("tables/in.c-pq.typed/import", &[("dataString", "id,price,day\n1,2.5,2024-01-01\n2,3,2024-01-02\n3,,\n")]);
    assert_eq!(st, 200, "{r}");
    let (_, slices) = export(&s, "in.c-pq.typed", &[("fileType", "parquet"), ("columns", "id,price"), ("whereColumn", "id"), ("whereValues[]", "1"), ("whereValues[]", "3")]);
    let (types, rows) = read_parquet(&slices[0].1);
    assert_eq!(types, ["Int64", "Decimal128(8, 2)"]);
    assert_eq!(rows, [["1", "2.50"], ["3", ""]]);
    // CSV stays the default, and other file types are refused.
    let (f, _) = export(&s, "in.c-pq.plain", &[("gzip", "1")]);
    assert_eq!((f["name"].as_str(), f["fileType"].as_str()), (Some("plain.csv.gz"), Some("csv")));
    let (st, err) = s.post_form("tables/in.c-pq.plain/export-async", &[("fileType", "xlsx")]);
    assert_eq!((st, err["code"].as_str()), (400, Some("validation.failed")), "{err}");
}
