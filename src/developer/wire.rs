//! The Developer Portal's objects on the wire (spec schemas `App`, `Vendor`, `User`, `Version`;
//! all `additionalProperties: true`): the app's definition fields are flattened beside its
//! state, as the portal returns them.
use serde::Serialize;
use serde_json::{Map, Value};

use crate::meta::developer::{App as AppRecord, AppVersion, PortalUser, Vendor as VendorRecord};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub id: String,
    pub vendor: String,
    pub version: i64,
    pub is_public: bool,
    pub is_approved: bool,
    pub is_deprecated: bool,
    /// The version the stack's component registry serves (null: not published).
    pub published_version: Option<i64>,
    /// `requested` while a publication waits for an administrator, else `published` or `draft`.
    pub publishing_status: &'static str,
    #[serde(flatten)]
    pub definition: Map<String, Value>,
    pub created_on: String,
    pub updated_on: String,
}

impl App {
    pub fn of(a: &AppRecord) -> App {
        App {
            id: a.id.clone(),
            vendor: a.vendor_id.clone(),
            version: a.version,
            is_public: a.is_public,
            is_approved: a.is_approved,
            is_deprecated: a.is_deprecated,
            published_version: a.published_version,
            publishing_status: match (a.publish_requested, a.published_version) {
                (Some(_), _) => "requested",
                (None, Some(_)) => "published",
                (None, None) => "draft",
            },
            definition: a.definition.as_object().cloned().unwrap_or_default(),
            created_on: a.created.clone(),
            updated_on: a.updated.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vendor {
    pub id: String,
    pub name: String,
    pub address: String,
    pub email: String,
    pub project_url: Option<String>,
    pub is_public: bool,
    pub is_approved: bool,
    pub created_on: String,
}

impl Vendor {
    pub fn of(v: &VendorRecord) -> Vendor {
        Vendor {
            id: v.id.clone(),
            name: v.name.clone(),
            address: v.address.clone(),
            email: v.email.clone(),
            project_url: v.project_url.clone(),
            is_public: v.is_public,
            is_approved: v.is_approved,
            created_on: v.created.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Service accounts log in with it (`service.<vendor>.<name>`); people with their email.
    pub username: String,
    pub email: String,
    pub name: String,
    pub vendors: Vec<String>,
    pub is_admin: bool,
    /// Deprecated in the spec in favour of `mfa`; MFA is not offered by this stack.
    pub is_mfa_enabled: bool,
    pub mfa: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_on: String,
}

impl User {
    pub fn of(u: &PortalUser, vendors: Vec<String>) -> User {
        User {
            username: u.email.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            vendors,
            is_admin: u.is_admin,
            is_mfa_enabled: false,
            mfa: false,
            description: u.service_vendor.as_ref().map(|_| u.description.clone()),
            created_on: u.created.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub version: i64,
    pub created_by: String,
    pub created_on: String,
    #[serde(flatten)]
    pub definition: Map<String, Value>,
}

impl Version {
    pub fn of(v: &AppVersion) -> Version {
        Version {
            version: v.version,
            created_by: v.created_by.clone(),
            created_on: v.created_on.clone(),
            definition: v.definition.as_object().cloned().unwrap_or_default(),
        }
    }
}
