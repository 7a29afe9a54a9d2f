//! The Vault service, served at `/vault` (`api`, notes: services.md §11): a project's variables
//! `{key, value, flags, attributes}`, referenced in configurations as `{{ vault.KEY }}` and
//! resolved by the runner (`runner::variables`) from the variables effective for the job's
//! branch (`scoped_for_branch`). A variable flagged `encrypted` is kept and shown as a
//! project-wide cipher of the Encryption service; only the runner opens it, for the job.
//! Variables are kept by `VaultVariableStore` (`meta::vault_variables`).
pub mod api;
pub mod wire;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code, now_iso};
use crate::meta::vault_variables::VaultVariable;
use crate::storage::auth::Auth;

pub const FLAG_ENCRYPTED: &str = "encrypted";
pub const FLAG_OAUTH_CREDENTIALS_ID: &str = "oauthCredentialsId";
const FLAGS: [&str; 2] = [FLAG_ENCRYPTED, FLAG_OAUTH_CREDENTIALS_ID];

/// The attribute that scopes a variable to one branch (others are free-form).
pub const BRANCH_ID: &str = "branchId";

/// `limit` default and maximum of `GET /variables` (spec).
pub const MAX_LIMIT: usize = 100;

/// A variable to create, as the request gave it.
#[derive(Debug, Clone)]
pub struct NewVariable {
    pub key: String,
    pub value: String,
    pub flags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
}

/// Which variables a list returns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub key: Option<String>,
    /// Each must match: a value the variable's attribute equals, or `""` for "has no such
    /// attribute" (spec of `/variables/scoped/branch`).
    pub attributes: BTreeMap<String, String>,
}

/// A key the Vault accepts (spec pattern `^[a-zA-Z][a-zA-Z0-9_\-]*$`): every such key is also a
/// name the runner's `{{ vault.NAME }}` placeholders match.
pub fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

pub fn is_encrypted(v: &VaultVariable) -> bool {
    v.flags.iter().any(|f| f == FLAG_ENCRYPTED)
}

/// The identity of a variable within its project (spec: "SHA-256 hash of the variable key +
/// attributes"): the same key with the same attributes is the same variable.
pub fn hash(key: &str, attributes: &BTreeMap<String, String>) -> String {
    let identity = serde_json::json!([key, attributes]).to_string();
    hex::encode(Sha256::digest(identity.as_bytes()))
}

/// Changing variables is refused to the roles `none` and `readOnly` (permission-checker
/// `CanModifyVariable`). Tokens here carry no role but the master token's `admin`, so any other
/// token counts as role `none`.
fn require_modify(auth: &Auth) -> ApiResult<()> {
    if auth.is_admin() { Ok(()) } else { Err(ApiError::denied("Role \"none\" is not allowed to modify variable")) }
}

fn not_found(hash: &str) -> ApiError {
    ApiError::new(Code::VaultVariableNotFound, format!("Variable \"{hash}\" not found"))
}

/// Check a new variable's fields (422 as Symfony's payload validation answers).
fn validate(new: &NewVariable) -> ApiResult<()> {
    let invalid = |m: String| Err(ApiError::new(Code::VaultInvalidPayload, m));
    if new.key.is_empty() {
        return invalid("key: This value should not be blank.".into());
    }
    if !valid_key(&new.key) {
        return invalid(format!(
            "key: This value is not valid: \"{}\" must start with a letter and contain only letters, digits, \"_\" and \"-\".",
            new.key
        ));
    }
    if let Some(bad) = new.flags.iter().find(|f| !FLAGS.contains(&f.as_str())) {
        return invalid(format!("flags: The value \"{bad}\" is not a valid choice (encrypted, oauthCredentialsId)."));
    }
    if new.attributes.keys().any(|k| k.is_empty()) {
        return invalid("attributes: An attribute name should not be blank.".into());
    }
    Ok(())
}

/// `POST /variables`: a new variable of the caller's project; an `encrypted` value is stored
/// (and shown) as a project-wide cipher, so that it opens in any job of the project.
pub fn create(state: &AppState, auth: &Auth, new: NewVariable) -> ApiResult<VaultVariable> {
    require_modify(auth)?;
    validate(&new)?;
    let mut flags: Vec<String> = Vec::new();
    for f in new.flags {
        if !flags.contains(&f) {
            flags.push(f);
        }
    }
    let mut value = new.value;
    if flags.iter().any(|f| f == FLAG_ENCRYPTED) {
        let scope = crate::encryption::Scope { project: Some(auth.project_id.to_string()), ..Default::default() };
        value = match crate::encryption::encrypt_value(state, &scope, serde_json::Value::String(value)) {
            Ok(serde_json::Value::String(cipher)) => cipher,
            Ok(_) => return Err(ApiError::internal("the cipher of a string is not a string")),
            Err(e) => return Err(ApiError::new(Code::VaultInvalidPayload, format!("value: {e}"))),
        };
    }
    let variable = VaultVariable {
        project_id: auth.project_id,
        hash: hash(&new.key, &new.attributes),
        key: new.key,
        value,
        flags,
        attributes: new.attributes,
        created: now_iso(),
    };
    match state.meta.insert_vault_variable(&variable)? {
        Ok(()) => Ok(variable),
        Err(_) => Err(ApiError::new(
            Code::VaultVariableExists,
            format!("Variable with key \"{}\" and the same attributes already exists", variable.key),
        )),
    }
}

fn matches(v: &VaultVariable, filter: &Filter) -> bool {
    filter.attributes.iter().all(|(name, want)| match v.attributes.get(name) {
        Some(have) => !want.is_empty() && have == want,
        None => want.is_empty(),
    })
}

/// `GET /variables`: the caller's project's variables matching `filter`, one page.
pub fn list(state: &AppState, auth: &Auth, filter: &Filter, offset: usize, limit: usize) -> ApiResult<Vec<VaultVariable>> {
    let all = state.meta.vault_variables(auth.project_id, filter.key.as_deref())?;
    Ok(all.into_iter().filter(|v| matches(v, filter)).skip(offset).take(limit).collect())
}

/// A branch of the caller's project named in a path or query: its id (or `default`); 404
/// for anything else.
pub fn branch_of(state: &AppState, auth: &Auth, branch: &str) -> ApiResult<i64> {
    let missing = || ApiError::new(Code::BranchNotFound, format!("Branch \"{branch}\" not found."));
    if branch == "default" {
        return Ok(auth.default_branch_id);
    }
    let id: i64 = branch.parse().map_err(|_| missing())?;
    if state.meta.branch_exists(auth.project_id, id)? {
        Ok(id)
    } else {
        Err(missing())
    }
}

/// The variables in effect in `branch_id` of the project: the project-wide ones (no `branchId`
/// attribute) and the branch's own, a branch's variable replacing a project-wide one of the
/// same key. `filter` selects among them (its `branchId`, if any, is the path's business).
pub fn scoped_for_branch(state: &AppState, project_id: i64, branch_id: i64, filter: &Filter) -> ApiResult<Vec<VaultVariable>> {
    let branch_id = branch_id.to_string();
    let mut filter = filter.clone();
    filter.attributes.remove(BRANCH_ID);
    let in_scope: Vec<VaultVariable> = state
        .meta
        .vault_variables(project_id, filter.key.as_deref())?
        .into_iter()
        .filter(|v| v.attributes.get(BRANCH_ID).is_none_or(|b| *b == branch_id))
        .filter(|v| matches(v, &filter))
        .collect();
    let branch_keys: Vec<String> = in_scope.iter().filter(|v| v.attributes.contains_key(BRANCH_ID)).map(|v| v.key.clone()).collect();
    Ok(in_scope.into_iter().filter(|v| v.attributes.contains_key(BRANCH_ID) || !branch_keys.contains(&v.key)).collect())
}

/// `DELETE /variables/{hash}`: 404 when the caller's project has no such variable.
pub fn delete(state: &AppState, auth: &Auth, hash: &str) -> ApiResult<()> {
    require_modify(auth)?;
    if state.meta.delete_vault_variable(auth.project_id, hash)? {
        Ok(())
    } else {
        Err(not_found(hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for yes in ["a", "mysql_host", "API-key", "x1_-"] {
            assert!(valid_key(yes), "{yes}");
        }
        for no in ["", "1a", "_a", "-a", "a.b", "a b", "ключ", "a{"] {
            assert!(!valid_key(no), "{no}");
        }
    }

    #[test]
    fn hashes_name_key_and_attributes() {
        let none = BTreeMap::new();
        let branch = BTreeMap::from([(BRANCH_ID.to_string(), "12".to_string())]);
        assert_eq!(hash("k", &none), hash("k", &BTreeMap::new()));
        assert_eq!(hash("k", &none).len(), 64);
        assert_ne!(hash("k", &none), hash("k", &branch));
        assert_ne!(hash("k", &none), hash("l", &none));
    }

    #[test]
    fn attribute_filters() {
        let v = VaultVariable {
            project_id: 1,
            hash: "h".into(),
            key: "k".into(),
            value: "v".into(),
            flags: vec![],
            attributes: BTreeMap::from([("a".to_string(), "1".to_string())]),
            created: String::new(),
        };
        let f = |pairs: &[(&str, &str)]| Filter { key: None, attributes: pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() };
        assert!(matches(&v, &f(&[])));
        assert!(matches(&v, &f(&[("a", "1")])));
        assert!(!matches(&v, &f(&[("a", "2")])));
        assert!(!matches(&v, &f(&[("a", "")])), "empty: only variables without it");
        assert!(matches(&v, &f(&[("b", "")])));
        assert!(!matches(&v, &f(&[("b", "1")])));
    }
}
