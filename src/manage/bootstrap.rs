//! First start of the Management API: maintainer 1 and organization 1 ("kbstack") that the
//! projects made before belong to, and a super-admin user with a manage token kept, like the
//! master token, only in a file readable by the owner (`<data-dir>/manage-token`).
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use crate::config::Config;
use crate::http::now_iso;
use crate::meta::MetaStore;
use crate::meta::manage::{ManageToken, ManageTokenKind, User};
use crate::meta::organizations::{Maintainer, MemberOf, Membership, Organization};
use crate::meta::project_admin::Feature;
use crate::storage::auth::hash_token;

pub const MAINTAINER_ID: i64 = 1;
pub const ORGANIZATION_ID: i64 = 1;
/// The stack's first administrator, a super admin.
pub const ADMIN_EMAIL: &str = "admin@kbstack.local";

pub struct ManageBootstrap {
    /// Set when this start created the manage token and it was not given by config.
    pub new_manage_token: Option<String>,
    pub token_hint: String,
}

fn err(e: kbstack_core::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub fn ensure_stack(meta: &MetaStore, config: &Config) -> anyhow::Result<ManageBootstrap> {
    let now = now_iso();
    if meta.maintainer(MAINTAINER_ID).map_err(err)?.is_none() {
        meta.insert_maintainer(&Maintainer { id: 0, name: "kbstack".into(), created: now.clone(), zendesk_url: None }).map_err(err)?;
    }
    if meta.organization(ORGANIZATION_ID).map_err(err)?.is_none() {
        meta.insert_organization(&Organization {
            id: 0,
            maintainer_id: MAINTAINER_ID,
            name: "kbstack".into(),
            crm_id: String::new(),
            allow_auto_join: true,
            mfa_required: false,
            created: now.clone(),
        })
        .map_err(err)?;
    }
    meta.adopt_projects(ORGANIZATION_ID).map_err(err)?;
    for (name, title, description) in SEEDED_FEATURES {
        if meta.feature_by_name(name).map_err(err)?.is_none() {
            let feature = Feature {
                id: 0,
                name: name.to_string(),
                kind: "project".into(),
                title: title.to_string(),
                description: description.to_string(),
                can_be_managed_by_admin: false,
                can_be_managed_via_api: true,
                created: now.clone(),
            };
            meta.insert_feature(&feature).map_err(err)?.ok();
        }
    }

    let admin = match meta.user_by_email(ADMIN_EMAIL).map_err(err)? {
        Some(u) => u,
        None => {
            let user = User { is_super_admin: true, can_access_logs: true, ..User::new(ADMIN_EMAIL, "kbstack admin", &now) };
            let id = meta.insert_user(&user).map_err(err)?.map_err(|_| anyhow::anyhow!("admin user exists"))?;
            meta.set_member(&Membership {
                of: MemberOf::Maintainer(MAINTAINER_ID),
                user_id: id,
                role: "admin".into(),
                created: now.clone(),
                expires: None,
                reason: String::new(),
                invitor_id: None,
            })
            .map_err(err)?;
            User { id, ..user }
        }
    };

    let token_file = config.data_dir.join("manage-token");
    let existing = meta.manage_tokens(Some(admin.id)).map_err(err)?.into_iter().find(|t| t.description == BOOTSTRAP_DESCRIPTION);
    let id = match &existing {
        Some(t) => t.id,
        None => {
            let token = ManageToken {
                id: 0,
                description: BOOTSTRAP_DESCRIPTION.into(),
                user_id: Some(admin.id),
                kind: ManageTokenKind::Admin,
                scopes: Vec::new(),
                created: now.clone(),
                expires: None,
                last_used: None,
                is_session: false,
            };
            meta.insert_manage_token(&token, &|id| format!("pending-{id}-{}", uuid::Uuid::new_v4())).map_err(err)?.0
        }
    };
    let (secret, created) = match &config.manage_token {
        Some(given) => (given.expose().to_string(), false),
        None if existing.is_some() => {
            return Ok(ManageBootstrap { new_manage_token: None, token_hint: token_file.display().to_string() });
        }
        None => (super::auth::new_manage_secret(id), true),
    };
    meta.set_manage_token_hash(id, &hash_token(&secret)).map_err(err)?;
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&token_file)?;
    f.write_all(secret.as_bytes())?;
    Ok(ManageBootstrap { new_manage_token: created.then_some(secret), token_hint: token_file.display().to_string() })
}

const BOOTSTRAP_DESCRIPTION: &str = "kbstack super admin";

/// Project features the catalogue starts with: those kbstack or the official clients act on.
const SEEDED_FEATURES: &[(&str, &str, &str)] = &[
    (super::PAY_AS_YOU_GO, "Pay as you go", "Jobs consume credits; new jobs are refused when none are left."),
    ("queuev2", "Job Queue v2", "The project runs its jobs on the Job Queue (every kbstack project does)."),
];
