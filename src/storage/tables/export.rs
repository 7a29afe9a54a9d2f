//! Reading tables out: `export-async` (a sliced file of headerless CSV with every value quoted,
//! gzipped on request, or with `fileType=parquet` of Parquet slices; plus `<prefix>manifest`),
//! `data-preview` (CSV with a header, or JSON) and `DELETE rows` (same filters).
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Value, json};

use super::select::parse_select;
use super::{load_table, lock_key, mark_changed};
use crate::app::AppState;
use crate::backend::{ExportFormat, ExportSpec, Select};
use crate::blob::BlobStore;
use crate::http::{ApiError, ApiResult, Code, Params};
use crate::storage::auth::{Auth, Need};
use crate::storage::{files, jobs};

pub async fn export_async(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = load_table(&state, &auth, &id, Need::Read)?;
    let mut select = parse_select(&p, None)?;
    select.include_timestamp = p.flag("includeInternalTimestamp")?;
    let gzip = p.flag("gzip")?;
    match p.str("format").as_deref() {
        None | Some("rfc") | Some("") => {}
        Some(other) => return Err(ApiError::validation(format!("Invalid request:\n - format: \"{other}\" is not supported; use rfc."))),
    }
    let file_type = p.str("fileType").unwrap_or_default().to_ascii_lowercase();
    // Parquet compresses inside the format (Snappy); its slices are never gzipped.
    let (format, file_name) = match file_type.as_str() {
        "" | "csv" => (ExportFormat::Csv { gzip }, format!("{}.csv{}", t.name, if gzip { ".gz" } else { "" })),
        "parquet" => (ExportFormat::Parquet, format!("{}.parquet", t.name)),
        other => {
            return Err(ApiError::validation(format!("Invalid request:\n - fileType: \"{other}\" is not one of csv, parquet.")));
        }
    };
    let spec = jobs::JobSpec {
        operation_name: "tableExport",
        operation_params: json!({"tableId": t.id, "gzip": gzip, "export": {
            "columns": select.columns, "limit": select.limit, "includeInternalTimestamp": select.include_timestamp,
            "fileType": if file_type.is_empty() { "csv" } else { file_type.as_str() },
        }}),
        table_id: Some(t.id.clone()),
        lock_key: Some(lock_key(&t)),
    };
    let job_auth = auth.clone();
    jobs::start(&state, &auth, spec, move |st| {
        let file = files::create_file(st, &job_auth, files::NewFile {
            name: file_name,
            is_sliced: true,
            is_permanent: false,
            is_encrypted: true,
            tags: vec!["table-export".into(), format!("tableId:{}", t.id)],
        })?;
        let work = tempfile::tempdir_in(st.blobs.staging_dir())?;
        let slices = st.tables.export(&t.location(), &ExportSpec { select, dir: work.path().to_path_buf(), format })?;
        let mut entries = Vec::new();
        let mut size = 0i64;
        for slice in &slices {
            let name = slice.file_name().and_then(|n| n.to_str()).unwrap_or("part").to_string();
            let blob = format!("{}{name}", file.blob_path);
            // Written to scratch by the table backend, then published (renamed on local disk, uploaded to S3).
            size += std::fs::metadata(slice)?.len() as i64;
            st.blobs.put_file(&blob, slice)?;
            entries.push(json!({"url": BlobStore::entry_url(&blob), "mandatory": true}));
        }
        st.blobs.put_bytes(&format!("{}manifest", file.blob_path), json!({"entries": entries}).to_string())?;
        files::set_size(st, file.id, size)?;
        Ok(json!({"file": {"id": file.id}, "cacheHit": false}))
    })
    .await
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

pub async fn preview(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<Response> {
    let t = load_table(&state, &auth, &id, Need::Read)?;
    let mut select = parse_select(&p, Some(1000))?;
    select.limit = Some(select.limit.unwrap_or(100));
    let format = p.str_or("format", "rfc");
    let st = state.clone();
    let (names, rows) = tokio::task::spawn_blocking(move || st.tables.preview(&t.location(), &select))
        .await
        .map_err(ApiError::internal)??;
    match format.as_str() {
        "json" => {
            let rows: Vec<Value> = rows
                .iter()
                .map(|r| {
                    Value::Array(
                        names.iter().zip(r).map(|(n, v)| json!({"columnName": n, "value": v.clone().unwrap_or_default(), "isTruncated": false})).collect(),
                    )
                })
                .collect();
            Ok(Json(json!({"columns": names, "rows": rows})).into_response())
        }
        "rfc" | "" => {
            let mut out = String::new();
            out.push_str(&names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(","));
            out.push('\n');
            for r in &rows {
                out.push_str(&r.iter().map(|v| quote(v.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(","));
                out.push('\n');
            }
            let mut resp = out.into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            Ok(resp)
        }
        other => Err(ApiError::validation(format!("Invalid request:\n - format: \"{other}\" is not one of rfc, json."))),
    }
}

fn is_unfiltered(s: &Select) -> bool {
    s.filters.is_empty() && s.changed_since.is_none() && s.changed_until.is_none()
}

pub async fn delete_rows(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, p: Params) -> ApiResult<(StatusCode, Json<Value>)> {
    let t = load_table(&state, &auth, &id, Need::Write)?;
    let select = parse_select(&p, None)?;
    if is_unfiltered(&select) && !p.flag("allowTruncate")? {
        return Err(ApiError::new(
            Code::UnintendedTruncation,
            "No filters were given: this would delete every row. Set allowTruncate to truncate the table.",
        ));
    }
    let spec = jobs::JobSpec {
        operation_name: "tableRowsDelete",
        operation_params: json!({"tableId": t.id}),
        table_id: Some(t.id.clone()),
        lock_key: Some(lock_key(&t)),
    };
    jobs::start(&state, &auth, spec, move |st| {
        let deleted = st.tables.delete_rows(&t.location(), &select)?;
        let stats = mark_changed(st, &t, false)?;
        Ok(json!({"deletedRows": deleted, "totalRowsCount": stats.rows_count}))
    })
    .await
}
