//! The Queue's job states, as the Queue API spells them (`status`, `desiredStatus`).
use serde::{Deserialize, Serialize};

/// created → (waiting →) processing → success | warning | error; a kill ends a job that never
/// started `cancelled`, and a running one `terminating` → `terminated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueJobStatus {
    Created,
    Waiting,
    Processing,
    Success,
    Warning,
    Error,
    Terminating,
    Cancelled,
    Terminated,
}

impl QueueJobStatus {
    /// Every status, in the order the API lists them in its messages.
    pub const ALL: [QueueJobStatus; 9] = [
        QueueJobStatus::Created,
        QueueJobStatus::Waiting,
        QueueJobStatus::Processing,
        QueueJobStatus::Success,
        QueueJobStatus::Warning,
        QueueJobStatus::Error,
        QueueJobStatus::Terminating,
        QueueJobStatus::Cancelled,
        QueueJobStatus::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueJobStatus::Created => "created",
            QueueJobStatus::Waiting => "waiting",
            QueueJobStatus::Processing => "processing",
            QueueJobStatus::Success => "success",
            QueueJobStatus::Warning => "warning",
            QueueJobStatus::Error => "error",
            QueueJobStatus::Terminating => "terminating",
            QueueJobStatus::Cancelled => "cancelled",
            QueueJobStatus::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<QueueJobStatus> {
        QueueJobStatus::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// A final state: the job will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            QueueJobStatus::Success | QueueJobStatus::Warning | QueueJobStatus::Error | QueueJobStatus::Cancelled | QueueJobStatus::Terminated
        )
    }

    /// Not started yet, or running: what a kill acts on.
    pub fn is_killable(self) -> bool {
        matches!(self, QueueJobStatus::Created | QueueJobStatus::Waiting | QueueJobStatus::Processing)
    }
}

impl std::fmt::Display for QueueJobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_it_is_written() {
        for status in QueueJobStatus::ALL {
            assert_eq!(QueueJobStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(status.as_str()));
        }
        assert_eq!(QueueJobStatus::parse("running"), None);
    }
}
