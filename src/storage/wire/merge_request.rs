//! The merge request object (`/v2/storage/merge-request…`) and a conflict of its
//! `conflicts` list: field names, types and order as the APIB shows them (L10656–11254).
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeRequest {
    pub id: i64,
    pub creator: Creator,
    pub title: String,
    pub description: String,
    /// `development`, `in_review`, `approved`, `in_merge`, `published` or `canceled`.
    pub state: String,
    /// The changed objects, in the detail and the state-changing answers only. The APIB's
    /// examples call it `changeLog`; its prose and the PHP client's tests `content`: both are sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_log: Option<ChangeLog>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ChangeLog>,
    pub branches: Branches,
    pub merge: Merge,
    pub external_id: Option<String>,
    pub auto_merge_strategy: Option<String>,
    pub auto_merge_at: Option<String>,
    pub approvals: Vec<Approval>,
    pub reviewers: Vec<Reviewer>,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct Creator {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeLog {
    pub configurations: Vec<ChangedConfiguration>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangedConfiguration {
    pub is_deleted: bool,
    pub component_id: String,
    pub configuration_id: String,
    pub last_version_identifier: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Branches {
    /// Null once the request is canceled or merged (the branch is no longer tied to it).
    pub branch_from_id: Option<i64>,
    pub branch_into_id: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Merge {
    pub merged_at: Option<String>,
    pub merger_id: Option<i64>,
    pub merger_name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub approver_id: i64,
    pub approver_name: String,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct Reviewer {
    pub id: i64,
    pub name: String,
    pub email: String,
    /// `approved`, `rejected` or null.
    pub status: Option<String>,
}

/// One entry of `GET merge-request/{id}/conflicts`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub message: String,
    pub component_id: String,
    pub configuration_id: String,
    pub is_deleted: bool,
    pub dev_branch_version_identifier: String,
    /// Null when the configuration is gone from the default branch.
    pub default_branch_version_identifier: Option<String>,
}
