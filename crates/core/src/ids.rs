//! Typed ids: a table id cannot be passed where a bucket id is expected. They serialise as the
//! bare number or string Keboola sends (`#[serde(transparent)]`).
use serde::{Deserialize, Serialize};

macro_rules! numeric_id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                $name(id)
            }
        }
    )*};
}

macro_rules! text_id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_string())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }
    )*};
}

numeric_id! {
    /// A project: everything a token reaches lives in exactly one.
    ProjectId;
    /// A branch of a project (the default branch "Main" or a dev branch).
    BranchId;
    TokenId;
    FileId;
    /// A Storage API job (`/v2/storage/jobs/{id}`).
    StorageJobId;
    /// A Queue job (`/queue/jobs/{id}`; sent as a string on the wire).
    QueueJobId;
    EventId;
    TriggerId;
    /// A Scheduler schedule (`/scheduler/schedules/{id}`; a string on the wire).
    ScheduleId;
    /// A Notifications project subscription (`/notification/project-subscriptions/{id}`; a string on the wire).
    SubscriptionId;
}

text_id! {
    /// `in.c-main`.
    BucketId;
    /// `in.c-main.orders`.
    TableId;
    /// `keboola.ex-db-snowflake`.
    ComponentId;
    ConfigurationId;
    ConfigurationRowId;
}

/// Where a request works: a project and one of its branches. Every metadata query is scoped by it,
/// which is what keeps projects apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub project: ProjectId,
    pub branch: BranchId,
}

impl Scope {
    pub fn new(project: impl Into<ProjectId>, branch: impl Into<BranchId>) -> Scope {
        Scope { project: project.into(), branch: branch.into() }
    }
}
