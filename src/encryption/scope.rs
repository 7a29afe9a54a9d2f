//! Cipher scopes: which of component, project, configuration and branch type a cipher is bound
//! to, named by its `KBC::…Secure::` prefix (object-encryptor's wrappers, services.md §3).
use std::fmt::Write;

/// The eight scopes, each with the prefix Keboola's AWS KMS wrapper writes for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No parameter: any component of any project of this stack.
    Generic,
    /// componentId.
    Component,
    /// componentId + projectId (what Storage uses when it saves a configuration).
    Project,
    /// componentId + projectId + configId.
    Config,
    /// projectId only: every component of the project.
    ProjectWide,
    /// componentId + projectId + branchType.
    BranchType,
    /// componentId + projectId + configId + branchType.
    BranchTypeConfig,
    /// projectId + branchType.
    ProjectWideBranchType,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Generic,
        Kind::Component,
        Kind::Project,
        Kind::Config,
        Kind::ProjectWide,
        Kind::BranchType,
        Kind::BranchTypeConfig,
        Kind::ProjectWideBranchType,
    ];

    /// The name between `KBC::` and `::` (`ProjectSecure`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Generic => "Secure",
            Kind::Component => "ComponentSecure",
            Kind::Project => "ProjectSecure",
            Kind::Config => "ConfigSecure",
            Kind::ProjectWide => "ProjectWideSecure",
            Kind::BranchType => "BranchTypeSecure",
            Kind::BranchTypeConfig => "BranchTypeConfigSecure",
            Kind::ProjectWideBranchType => "ProjectWideBranchTypeSecure",
        }
    }

    pub fn prefix(self) -> String {
        format!("KBC::{}::", self.name())
    }

    fn binds_component(self) -> bool {
        matches!(self, Kind::Component | Kind::Project | Kind::Config | Kind::BranchType | Kind::BranchTypeConfig)
    }

    fn binds_project(self) -> bool {
        !matches!(self, Kind::Generic | Kind::Component)
    }

    fn binds_config(self) -> bool {
        matches!(self, Kind::Config | Kind::BranchTypeConfig)
    }

    fn binds_branch_type(self) -> bool {
        matches!(self, Kind::BranchType | Kind::BranchTypeConfig | Kind::ProjectWideBranchType)
    }

    /// The kind whose prefix starts `value` (this stack's own ciphers only).
    pub fn of_cipher(value: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| value.starts_with(&k.prefix()))
    }
}

/// Every prefix a Keboola cipher may carry: the AWS, Azure (`KV`) and GCP (`GKMS`) flavours of
/// each scope and the legacy ones. A value starting with one of them is never encrypted again.
pub fn is_cipher(value: &str) -> bool {
    const LEGACY: [&str; 3] = ["KBC::Encrypted==", "KBC::ComponentEncrypted==", "KBC::ComponentProjectEncrypted=="];
    LEGACY.iter().any(|p| value.starts_with(p))
        || Kind::ALL.iter().any(|k| ["", "KV", "GKMS"].iter().any(|flavour| value.starts_with(&format!("KBC::{}{flavour}::", k.name()))))
}

/// What a cipher is (or is to be) bound to. Only the fields its kind binds take part in the
/// associated data, so a `ProjectSecure` cipher opens in every configuration of its component
/// and project, and nowhere else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub component: Option<String>,
    pub project: Option<String>,
    pub config: Option<String>,
    pub branch_type: Option<String>,
}

impl Scope {
    /// The scope of a value Storage saves in a configuration of `component` in `project`.
    pub fn project(component: &str, project: i64) -> Scope {
        Scope { component: Some(component.into()), project: Some(project.to_string()), ..Scope::default() }
    }

    /// The kind the given parameters select (the Encryption API's rules); `Err` names what is
    /// missing or wrong.
    pub fn kind(&self) -> Result<Kind, String> {
        if let Some(b) = &self.branch_type {
            if b != "default" && b != "dev" {
                return Err(format!("Invalid branchType \"{b}\": use \"default\" or \"dev\"."));
            }
        }
        let (c, p, cfg, b) = (self.component.is_some(), self.project.is_some(), self.config.is_some(), self.branch_type.is_some());
        if cfg && !p {
            return Err("The \"configId\" parameter requires the \"projectId\" parameter.".into());
        }
        if cfg && !c {
            return Err("The \"configId\" parameter requires the \"componentId\" parameter.".into());
        }
        if b && !p {
            return Err("The \"branchType\" parameter requires the \"projectId\" parameter.".into());
        }
        Ok(match (c, p, cfg, b) {
            (false, false, _, _) => Kind::Generic,
            (true, false, _, _) => Kind::Component,
            (false, true, _, false) => Kind::ProjectWide,
            (false, true, _, true) => Kind::ProjectWideBranchType,
            (true, true, false, false) => Kind::Project,
            (true, true, true, false) => Kind::Config,
            (true, true, false, true) => Kind::BranchType,
            (true, true, true, true) => Kind::BranchTypeConfig,
        })
    }

    /// The associated data of a `kind` cipher in this scope; `None` when the scope lacks a field
    /// the kind binds (a configuration cipher in a job without a configuration).
    pub fn associated_data(&self, kind: Kind) -> Option<Vec<u8>> {
        let mut aad = format!("kbstack-encryption-v1\n{}", kind.name());
        let fields = [
            (kind.binds_component(), "componentId", &self.component),
            (kind.binds_project(), "projectId", &self.project),
            (kind.binds_config(), "configId", &self.config),
            (kind.binds_branch_type(), "branchType", &self.branch_type),
        ];
        for (bound, name, value) in fields {
            if bound {
                // Length-prefixed, so that no two different scopes give the same bytes.
                let v = value.as_deref()?;
                let _ = write!(aad, "\n{name}={}:{v}", v.len());
            }
        }
        Some(aad.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(c: Option<&str>, p: Option<&str>, cfg: Option<&str>, b: Option<&str>) -> Scope {
        let s = |v: Option<&str>| v.map(str::to_string);
        Scope { component: s(c), project: s(p), config: s(cfg), branch_type: s(b) }
    }

    #[test]
    fn parameters_select_the_kind() {
        let c = Some("keboola.ex-db");
        let p = Some("12");
        let cfg = Some("345");
        let b = Some("dev");
        assert_eq!(scope(None, None, None, None).kind(), Ok(Kind::Generic));
        assert_eq!(scope(c, None, None, None).kind(), Ok(Kind::Component));
        assert_eq!(scope(c, p, None, None).kind(), Ok(Kind::Project));
        assert_eq!(scope(c, p, cfg, None).kind(), Ok(Kind::Config));
        assert_eq!(scope(None, p, None, None).kind(), Ok(Kind::ProjectWide));
        assert_eq!(scope(c, p, None, b).kind(), Ok(Kind::BranchType));
        assert_eq!(scope(c, p, cfg, b).kind(), Ok(Kind::BranchTypeConfig));
        assert_eq!(scope(None, p, None, b).kind(), Ok(Kind::ProjectWideBranchType));
        for bad in [scope(c, None, cfg, None), scope(None, p, cfg, None), scope(c, None, None, b), scope(c, p, None, Some("prod"))] {
            assert!(bad.kind().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prefixes_and_foreign_ciphers() {
        assert_eq!(Kind::of_cipher("KBC::ProjectWideSecure::abc"), Some(Kind::ProjectWide));
        assert_eq!(Kind::of_cipher("KBC::ProjectWideBranchTypeSecure::abc"), Some(Kind::ProjectWideBranchType));
        assert_eq!(Kind::of_cipher("KBC::ProjectSecureKV::abc"), None);
        assert!(is_cipher("KBC::ProjectSecureKV::abc") && is_cipher("KBC::ConfigSecureGKMS::x") && is_cipher("KBC::Encrypted==x"));
        assert!(!is_cipher("KBC::Nothing::x") && !is_cipher("secret"));
    }

    #[test]
    fn associated_data_binds_only_what_the_kind_names() {
        let a = scope(Some("c"), Some("1"), Some("x"), Some("default"));
        let b = scope(Some("c"), Some("1"), Some("y"), Some("dev"));
        assert_eq!(a.associated_data(Kind::Project), b.associated_data(Kind::Project));
        assert_ne!(a.associated_data(Kind::Config), b.associated_data(Kind::Config));
        assert_ne!(a.associated_data(Kind::Project), a.associated_data(Kind::BranchType));
        assert_eq!(scope(Some("c"), Some("1"), None, None).associated_data(Kind::Config), None);
    }
}
