//! Apps: create, change (every change is a new version), publish, roll back, deprecate, delete;
//! and the published ones as the stack's component registry lists and runs them.
//!
//! Publishing: the registry serves an app's *published version*, never its working copy. A
//! vendor's `POST …/publish` asks for it (`publishingStatus: requested`, logged); an
//! administrator approves (`POST /admin/apps/{id}/publish`) and from then the registry serves
//! that version. An administrator's own publish or rollback applies at once. A vendor's rollback
//! of a published app is a new version with the old settings, published on approval. So what a
//! process app runs on this host is always something an administrator let through.
use serde_json::{Map, Value, json};

use super::auth::Session;
use super::definition;
use super::vendors;
use super::wire;
use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, now_iso};
use crate::meta::developer::{App, AppVersion};
use crate::runner::registry::{self, DeveloperApps};

pub fn not_found(id: &str) -> ApiError {
    ApiError::new(Code::DeveloperNotFound, format!("App {id} does not exist"))
}

/// The full id of `{app}` in a vendor's path: `keboola.ex-x` or the short `ex-x`.
pub fn full_id(vendor: &str, app: &str) -> String {
    if app.strip_prefix(vendor).is_some_and(|rest| rest.starts_with('.')) { app.to_string() } else { format!("{vendor}.{app}") }
}

/// The vendor's app (404 for another vendor's).
pub fn load(state: &AppState, vendor: &str, app: &str) -> ApiResult<App> {
    let id = full_id(vendor, app);
    state.meta.app(&id)?.filter(|a| a.vendor_id == vendor).ok_or_else(|| not_found(&id))
}

pub fn load_any(state: &AppState, id: &str) -> ApiResult<App> {
    state.meta.app(id)?.ok_or_else(|| not_found(id))
}

/// App ids: 3 to 64 lower-case letters, digits and dashes (the spec's rule).
fn check_short_id(id: &str) -> ApiResult<()> {
    let ok = (3..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok { Ok(()) } else { Err(ApiError::validation("Parameter \"id\" must be 3 to 64 lower-case letters, numbers and dashes")) }
}

fn version_record(app: &App, created_by: &str) -> AppVersion {
    AppVersion {
        app_id: app.id.clone(),
        version: app.version,
        definition: app.definition.clone(),
        created_by: created_by.to_string(),
        created_on: app.updated.clone(),
    }
}

/// `POST /vendors/{vendor}/apps {id, name, type, …}`.
pub fn create(state: &AppState, session: &Session, vendor: &str, body: &Map<String, Value>) -> ApiResult<App> {
    let short = match body.get("id") {
        Some(Value::String(s)) => s.strip_prefix(&format!("{vendor}.")).unwrap_or(s).to_string(),
        Some(v) if !v.is_null() => return Err(ApiError::validation("Parameter \"id\" must be a string")),
        _ => return Err(ApiError::validation("Parameter \"id\" is required")),
    };
    check_short_id(&short)?;
    let fields = definition::read(body, &["name", "type"])?;
    let id = format!("{vendor}.{short}");
    if registry::is_reserved(state, &id) {
        return Err(ApiError::new(Code::DeveloperAlreadyExists, format!("App id {id} is taken by a component of this stack")));
    }
    let now = now_iso();
    let app = App {
        id: id.clone(),
        vendor_id: vendor.to_string(),
        version: 1,
        definition: Value::Object(fields),
        is_public: false,
        is_approved: false,
        is_deprecated: false,
        publish_requested: None,
        published_version: None,
        created: now.clone(),
        updated: now,
    };
    state
        .meta
        .insert_app(&app, &version_record(&app, session.email()))?
        .map_err(|_| ApiError::new(Code::DeveloperAlreadyExists, format!("App {id} already exists")))?;
    Ok(app)
}

/// A new version of the app with `definition` (the registry is untouched until it is published).
fn new_version(state: &AppState, session: &Session, mut app: App, definition: Value) -> ApiResult<App> {
    app.version += 1;
    app.definition = definition;
    app.updated = now_iso();
    let version = version_record(&app, session.email());
    if !state.meta.update_app(&app, Some(&version))? {
        return Err(not_found(&app.id));
    }
    Ok(app)
}

/// `PATCH /vendors/{vendor}/apps/{app}`; an administrator's `PATCH /admin/apps/{id}` may also
/// set `isPublic` and `isDeprecated`.
pub fn update(state: &AppState, session: &Session, mut app: App, body: &Map<String, Value>, by_admin: bool) -> ApiResult<App> {
    let changes = definition::read(body, &[])?;
    for key in ["name", "type"] {
        if changes.get(key).is_some_and(Value::is_null) {
            return Err(ApiError::validation(format!("Parameter \"{key}\" cannot be removed")));
        }
    }
    let mut flags_changed = false;
    if by_admin {
        for (key, flag) in [("isPublic", &mut app.is_public), ("isDeprecated", &mut app.is_deprecated)] {
            match body.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => {
                    flags_changed |= *flag != *b;
                    *flag = *b;
                }
                Some(_) => return Err(ApiError::validation(format!("Parameter \"{key}\" must be a boolean"))),
            }
        }
    }
    let app = if changes.is_empty() {
        if flags_changed {
            app.updated = now_iso();
            state.meta.update_app(&app, None)?;
        }
        app
    } else {
        let merged = definition::merged(&app.definition, changes);
        new_version(state, session, app, merged)?
    };
    if flags_changed {
        sync_registry(state)?;
    }
    Ok(app)
}

pub fn delete(state: &AppState, app: &App) -> ApiResult<()> {
    state.meta.delete_app(&app.id)?;
    if app.published_version.is_some() {
        sync_registry(state)?;
    }
    Ok(())
}

/// `POST …/deprecate {expiredOn?, replacementApp?}`: hidden from new listings, still runs.
pub fn deprecate(state: &AppState, session: &Session, app: App, body: &Map<String, Value>) -> ApiResult<App> {
    let mut changes = Map::new();
    match body.get("expiredOn") {
        None | Some(Value::Null) => {}
        Some(Value::String(d)) if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => {
            changes.insert("expiredOn".into(), json!(d));
        }
        Some(_) => return Err(ApiError::validation("Parameter \"expiredOn\" must be a date (YYYY-MM-DD)")),
    }
    match body.get("replacementApp") {
        None | Some(Value::Null) => {}
        Some(Value::String(r)) if r.len() <= 128 && !r.contains('\0') => {
            changes.insert("replacementApp".into(), json!(r));
        }
        Some(_) => return Err(ApiError::validation("Parameter \"replacementApp\" must be an app id (at most 128 characters)")),
    }
    let merged = definition::merged(&app.definition, changes);
    let mut app = new_version(state, session, app, merged)?;
    app.is_deprecated = true;
    app.is_public = false;
    state.meta.update_app(&app, None)?;
    if app.published_version.is_some() {
        sync_registry(state)?;
    }
    Ok(app)
}

/// Make `version` the one the registry serves.
fn publish_version(state: &AppState, mut app: App, version: i64) -> ApiResult<App> {
    app.published_version = Some(version);
    app.publish_requested = None;
    app.is_approved = true;
    app.is_public = !app.is_deprecated;
    app.updated = now_iso();
    state.meta.update_app(&app, None)?;
    sync_registry(state)?;
    Ok(app)
}

/// `POST /vendors/{vendor}/apps/{app}/publish`: at once for an administrator, else a request.
pub fn publish(state: &AppState, session: &Session, mut app: App) -> ApiResult<App> {
    if registry::is_reserved(state, &app.id) {
        return Err(ApiError::new(Code::DeveloperAlreadyExists, format!("App id {} is taken by a component of this stack", app.id)));
    }
    if !state.meta.vendor(&app.vendor_id)?.is_some_and(|v| v.is_approved) {
        return Err(ApiError::validation(format!("Vendor {} is not approved yet", app.vendor_id)));
    }
    if session.user.is_admin {
        let version = app.version;
        return publish_version(state, app, version);
    }
    app.publish_requested = Some(app.version);
    app.updated = now_iso();
    state.meta.update_app(&app, None)?;
    tracing::info!(app = app.id, version = app.version, by = session.email(), "developer portal: publishing requested (POST /admin/apps/{{id}}/publish)");
    Ok(app)
}

/// `POST /admin/apps/{id}/publish`: the requested version (or the current one) goes live.
pub fn approve(state: &AppState, app: App) -> ApiResult<App> {
    if registry::is_reserved(state, &app.id) {
        return Err(ApiError::new(Code::DeveloperAlreadyExists, format!("App id {} is taken by a component of this stack", app.id)));
    }
    let version = app.publish_requested.unwrap_or(app.version);
    publish_version(state, app, version)
}

/// `POST /admin/apps/{id}/reject {reason}`.
pub fn reject(state: &AppState, mut app: App, reason: &str) -> ApiResult<App> {
    if app.publish_requested.is_none() {
        return Err(ApiError::validation(format!("App {} has no publishing request", app.id)));
    }
    app.publish_requested = None;
    app.updated = now_iso();
    state.meta.update_app(&app, None)?;
    tracing::info!(app = app.id, reason, "developer portal: publishing rejected");
    Ok(app)
}

pub fn version(state: &AppState, app: &App, version: &str) -> ApiResult<AppVersion> {
    let missing = || ApiError::new(Code::DeveloperNotFound, format!("Version {version} of app {} does not exist", app.id));
    let n: i64 = version.trim().parse().map_err(|_| missing())?;
    state.meta.app_version(&app.id, n)?.ok_or_else(missing)
}

/// `POST …/versions/{v}/rollback`: a new version with version v's settings; published at once
/// when an administrator rolls back a published app, requested when a vendor does.
pub fn rollback(state: &AppState, session: &Session, app: App, target: &AppVersion) -> ApiResult<App> {
    let published = app.published_version.is_some();
    let app = new_version(state, session, app, target.definition.clone())?;
    if !published {
        return Ok(app);
    }
    publish(state, session, app)
}

/// The app as the public sees it: its published version.
pub fn public_view(state: &AppState, app: &App) -> ApiResult<wire::App> {
    let mut view = app.clone();
    if let Some(v) = app.published_version.and_then(|v| state.meta.app_version(&app.id, v).transpose()) {
        let v = v?;
        view.version = v.version;
        view.definition = v.definition;
    }
    Ok(wire::App::of(&view))
}

/// Rebuild the registry's published apps from the store (at start and after every change of a
/// publication).
pub fn sync_registry(state: &AppState) -> ApiResult<()> {
    let base = state.urls.root();
    let mut out = DeveloperApps::default();
    for app in state.meta.apps(None, true, i64::MAX, 0)? {
        let Some(v) = app.published_version else { continue };
        let Some(version) = state.meta.app_version(&app.id, v)? else { continue };
        let vendor = state.meta.vendor(&app.vendor_id)?;
        let (listed, runnable) = definition::component(&app, &version.definition, v, vendor.as_ref(), &base);
        out.listed.push(listed);
        out.runnable.extend(runnable);
    }
    state.components.set_developer(out);
    Ok(())
}

/// Whether the session may manage the app's vendor (for the `/vendors/{vendor}/apps…` routes).
pub fn managed(state: &AppState, session: &Session, vendor: &str, app: &str) -> ApiResult<App> {
    vendors::managed(state, session, vendor)?;
    load(state, vendor, app)
}
