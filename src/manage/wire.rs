//! The Management API's objects as Keboola sends them (management/openapi.yaml: ProjectModel,
//! OrganizationModel, MaintainerModel, the token verification, users, features, invitations).
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenVerification {
    pub id: i64,
    pub description: String,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub is_session_token: bool,
    pub is_expired: bool,
    pub is_disabled: bool,
    pub scopes: Vec<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<IdName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserJson>,
    /// The secret: only when the token is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Serialize, Clone)]
pub struct IdName {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Serialize, Clone)]
pub struct IdNameEmail {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserJson {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub mfa_enabled: bool,
    pub features: Vec<String>,
    pub can_access_logs: bool,
    pub is_super_admin: bool,
    pub created: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
/// Unset values are left out: the spec types them as numbers and strings, not null.
pub struct MaintainerJson {
    pub id: i64,
    pub name: String,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_connection_mysql_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_connection_redshift_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_connection_snowflake_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_connection_synapse_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_connection_exasol_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_connection_teradata_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_file_storage_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zendesk_url: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRef {
    pub id: i64,
    pub name: String,
    pub created: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationJson {
    pub id: i64,
    pub name: String,
    pub created: String,
    pub allow_auto_join: bool,
    pub crm_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_center_project_id: Option<i64>,
    pub mfa_required: bool,
    pub maintainer: IdName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<ProjectRef>>,
}

/// The organization inside a project.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectOrganization {
    pub id: i64,
    pub name: String,
    pub crm_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_center_project_id: Option<i64>,
    pub created: String,
    pub allow_auto_join: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayAsYouGo {
    pub purchased_credits: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectJson {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub region: String,
    pub created: String,
    pub expires: Option<String>,
    pub features: Vec<String>,
    pub data_size_bytes: u64,
    pub rows_count: u64,
    pub has_mysql: bool,
    pub has_redshift: bool,
    pub has_snowflake: bool,
    pub has_synapse: bool,
    pub has_exasol: bool,
    pub has_teradata: bool,
    pub default_backend: String,
    pub has_try_mode_on: String,
    pub limits: Map<String, Value>,
    pub metrics: Map<String, Value>,
    pub is_disabled: bool,
    pub billed_monthly_price: Option<f64>,
    pub data_retention_time_in_days: i64,
    pub description: String,
    pub organization: ProjectOrganization,
    pub pay_as_you_go: PayAsYouGo,
    /// Deleted projects only (`deleted-projects`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_deleted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_time: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_purged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged_time: Option<Option<String>>,
}

/// A project member (`GET /manage/projects/{id}/users`): the user with the role at the top level.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberJson {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub features: Vec<String>,
    pub expires: Option<String>,
    pub created: String,
    pub reason: String,
    pub role: String,
    pub status: String,
    pub invitor: Option<IdNameEmail>,
    pub approver: Option<IdNameEmail>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitationJson {
    pub id: i64,
    pub created: String,
    pub expires: Option<String>,
    pub reason: String,
    pub role: String,
    /// The invited user (a project's invitations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<IdNameEmail>,
    /// The project (the current user's invitations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<IdName>,
    pub creator: Option<IdNameEmail>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureJson {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub description: String,
    pub can_be_manage_by_admin: bool,
    #[serde(rename = "canBeManagedViaAPI")]
    pub can_be_managed_via_api: bool,
    pub created: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditJson {
    pub id: i64,
    pub credits_amount: f64,
    pub money_amount: Option<f64>,
    pub id_stripe_invoice: Option<String>,
    pub description: String,
    pub created: String,
}
