//! Maintainers, organizations, memberships and invitations in the metadata store: the repository
//! trait, its SQLite implementation and the conformance suite (`organization_store_suite!`).
//! A membership or an invitation names what it is for by `MemberOf` (maintainer, organization
//! or project) and that thing's id.
use crate::meta::Cached;
use rusqlite::OptionalExtension;

use super::SqliteMetaStore;
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, PartialEq)]
pub struct Maintainer {
    pub id: i64,
    pub name: String,
    pub created: String,
    pub zendesk_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: i64,
    pub maintainer_id: i64,
    pub name: String,
    pub crm_id: String,
    pub allow_auto_join: bool,
    pub mfa_required: bool,
    pub created: String,
}

/// What a membership or an invitation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberOf {
    Maintainer(i64),
    Organization(i64),
    Project(i64),
}

impl MemberOf {
    pub(crate) fn parts(self) -> (&'static str, i64) {
        match self {
            MemberOf::Maintainer(id) => ("maintainer", id),
            MemberOf::Organization(id) => ("organization", id),
            MemberOf::Project(id) => ("project", id),
        }
    }

    pub(crate) fn from_parts(kind: &str, id: i64) -> MemberOf {
        match kind {
            "maintainer" => MemberOf::Maintainer(id),
            "organization" => MemberOf::Organization(id),
            _ => MemberOf::Project(id),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub of: MemberOf,
    pub user_id: i64,
    /// A project role (`admin`, `guest`, `readOnly`, `share`, …); `admin` elsewhere.
    pub role: String,
    pub created: String,
    pub expires: Option<String>,
    pub reason: String,
    pub invitor_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub id: i64,
    pub of: MemberOf,
    pub user_id: i64,
    pub role: String,
    pub reason: String,
    pub created: String,
    pub expires: Option<String>,
    pub creator_id: Option<i64>,
}

pub trait OrganizationStore {
    fn insert_maintainer(&self, m: &Maintainer) -> ApiResult<i64>;
    fn maintainer(&self, id: i64) -> ApiResult<Option<Maintainer>>;
    fn maintainers(&self) -> ApiResult<Vec<Maintainer>>;
    fn update_maintainer(&self, m: &Maintainer) -> ApiResult<()>;
    /// Delete a maintainer and its memberships and invitations; the caller checks it has no
    /// organizations.
    fn delete_maintainer(&self, id: i64) -> ApiResult<()>;

    fn insert_organization(&self, o: &Organization) -> ApiResult<i64>;
    fn organization(&self, id: i64) -> ApiResult<Option<Organization>>;
    /// Every organization (`None`) or a maintainer's, by id.
    fn organizations(&self, maintainer_id: Option<i64>) -> ApiResult<Vec<Organization>>;
    fn update_organization(&self, o: &Organization) -> ApiResult<()>;
    /// Delete an organization and its memberships and invitations; the caller checks it has no
    /// projects.
    fn delete_organization(&self, id: i64) -> ApiResult<()>;

    /// Add a member or change their role.
    fn set_member(&self, m: &Membership) -> ApiResult<()>;
    fn member(&self, of: MemberOf, user_id: i64) -> ApiResult<Option<Membership>>;
    fn members(&self, of: MemberOf) -> ApiResult<Vec<Membership>>;
    /// Everything a user is a member of.
    fn memberships_of(&self, user_id: i64) -> ApiResult<Vec<Membership>>;
    /// Remove a member; false when they were not one.
    fn remove_member(&self, of: MemberOf, user_id: i64) -> ApiResult<bool>;

    fn insert_invitation(&self, i: &Invitation) -> ApiResult<i64>;
    fn invitation(&self, id: i64) -> ApiResult<Option<Invitation>>;
    fn invitations(&self, of: MemberOf) -> ApiResult<Vec<Invitation>>;
    fn invitations_of(&self, user_id: i64) -> ApiResult<Vec<Invitation>>;
    /// Turn an invitation into a membership, in one transaction; false when it no longer exists.
    fn accept_invitation(&self, id: i64, now: &str) -> ApiResult<bool>;
    fn delete_invitation(&self, id: i64) -> ApiResult<bool>;
}

pub(crate) const MAINTAINER_COLUMNS: &str = "id, name, created, zendesk_url";
pub(crate) const ORGANIZATION_COLUMNS: &str = "id, maintainer_id, name, crm_id, allow_auto_join, mfa_required, created";
pub(crate) const MEMBER_COLUMNS: &str = "kind, target_id, user_id, role, created, expires, reason, invitor_id";
pub(crate) const INVITATION_COLUMNS: &str = "id, kind, target_id, user_id, role, reason, created, expires, creator_id";

fn maintainer_from_row(r: &rusqlite::Row) -> rusqlite::Result<Maintainer> {
    Ok(Maintainer { id: r.get(0)?, name: r.get(1)?, created: r.get(2)?, zendesk_url: r.get(3)? })
}

fn organization_from_row(r: &rusqlite::Row) -> rusqlite::Result<Organization> {
    Ok(Organization {
        id: r.get(0)?,
        maintainer_id: r.get(1)?,
        name: r.get(2)?,
        crm_id: r.get(3)?,
        allow_auto_join: r.get(4)?,
        mfa_required: r.get(5)?,
        created: r.get(6)?,
    })
}

fn member_from_row(r: &rusqlite::Row) -> rusqlite::Result<Membership> {
    let kind: String = r.get(0)?;
    Ok(Membership {
        of: MemberOf::from_parts(&kind, r.get(1)?),
        user_id: r.get(2)?,
        role: r.get(3)?,
        created: r.get(4)?,
        expires: r.get(5)?,
        reason: r.get(6)?,
        invitor_id: r.get(7)?,
    })
}

fn invitation_from_row(r: &rusqlite::Row) -> rusqlite::Result<Invitation> {
    let kind: String = r.get(1)?;
    Ok(Invitation {
        id: r.get(0)?,
        of: MemberOf::from_parts(&kind, r.get(2)?),
        user_id: r.get(3)?,
        role: r.get(4)?,
        reason: r.get(5)?,
        created: r.get(6)?,
        expires: r.get(7)?,
        creator_id: r.get(8)?,
    })
}

fn write_member(c: &rusqlite::Connection, m: &Membership) -> rusqlite::Result<usize> {
    let (kind, target) = m.of.parts();
    c.execute_cached(
        &format!("INSERT OR REPLACE INTO memberships ({MEMBER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        rusqlite::params![kind, target, m.user_id, m.role, m.created, m.expires, m.reason, m.invitor_id],
    )
}

fn forget(tx: &rusqlite::Transaction, of: MemberOf) -> rusqlite::Result<()> {
    let (kind, target) = of.parts();
    tx.execute_cached("DELETE FROM memberships WHERE kind = ?1 AND target_id = ?2", rusqlite::params![kind, target])?;
    tx.execute_cached("DELETE FROM invitations WHERE kind = ?1 AND target_id = ?2", rusqlite::params![kind, target])?;
    Ok(())
}

impl OrganizationStore for SqliteMetaStore {
    fn insert_maintainer(&self, m: &Maintainer) -> ApiResult<i64> {
        self.with(|c| {
            c.execute_cached(
                "INSERT INTO maintainers (name, created, zendesk_url) VALUES (?1, ?2, ?3)",
                rusqlite::params![m.name, m.created, m.zendesk_url],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn maintainer(&self, id: i64) -> ApiResult<Option<Maintainer>> {
        self.with(|c| {
            c.query_row_cached(&format!("SELECT {MAINTAINER_COLUMNS} FROM maintainers WHERE id = ?1"), [id], maintainer_from_row).optional()
        })
    }

    fn maintainers(&self) -> ApiResult<Vec<Maintainer>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {MAINTAINER_COLUMNS} FROM maintainers ORDER BY id"))?;
            st.query_map([], maintainer_from_row)?.collect()
        })
    }

    fn update_maintainer(&self, m: &Maintainer) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached("UPDATE maintainers SET name = ?1, zendesk_url = ?2 WHERE id = ?3", rusqlite::params![m.name, m.zendesk_url, m.id])
        })?;
        Ok(())
    }

    fn delete_maintainer(&self, id: i64) -> ApiResult<()> {
        self.tx(|tx| {
            forget(tx, MemberOf::Maintainer(id))?;
            tx.execute_cached("DELETE FROM maintainers WHERE id = ?1", [id])?;
            Ok::<_, rusqlite::Error>(())
        })?;
        Ok(())
    }

    fn insert_organization(&self, o: &Organization) -> ApiResult<i64> {
        self.with(|c| {
            c.execute_cached(
                "INSERT INTO organizations (maintainer_id, name, crm_id, allow_auto_join, mfa_required, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![o.maintainer_id, o.name, o.crm_id, o.allow_auto_join, o.mfa_required, o.created],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn organization(&self, id: i64) -> ApiResult<Option<Organization>> {
        self.with(|c| {
            c.query_row_cached(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id = ?1"), [id], organization_from_row)
                .optional()
        })
    }

    fn organizations(&self, maintainer_id: Option<i64>) -> ApiResult<Vec<Organization>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE ?1 IS NULL OR maintainer_id = ?1 ORDER BY id"
            ))?;
            st.query_map([maintainer_id], organization_from_row)?.collect()
        })
    }

    fn update_organization(&self, o: &Organization) -> ApiResult<()> {
        self.with(|c| {
            c.execute_cached(
                "UPDATE organizations SET maintainer_id = ?1, name = ?2, crm_id = ?3, allow_auto_join = ?4, mfa_required = ?5 WHERE id = ?6",
                rusqlite::params![o.maintainer_id, o.name, o.crm_id, o.allow_auto_join, o.mfa_required, o.id],
            )
        })?;
        Ok(())
    }

    fn delete_organization(&self, id: i64) -> ApiResult<()> {
        self.tx(|tx| {
            forget(tx, MemberOf::Organization(id))?;
            tx.execute_cached("DELETE FROM organizations WHERE id = ?1", [id])?;
            Ok::<_, rusqlite::Error>(())
        })?;
        Ok(())
    }

    fn set_member(&self, m: &Membership) -> ApiResult<()> {
        self.with(|c| write_member(c, m))?;
        Ok(())
    }

    fn member(&self, of: MemberOf, user_id: i64) -> ApiResult<Option<Membership>> {
        let (kind, target) = of.parts();
        self.with(|c| {
            c.query_row_cached(
                &format!("SELECT {MEMBER_COLUMNS} FROM memberships WHERE kind = ?1 AND target_id = ?2 AND user_id = ?3"),
                rusqlite::params![kind, target, user_id],
                member_from_row,
            )
            .optional()
        })
    }

    fn members(&self, of: MemberOf) -> ApiResult<Vec<Membership>> {
        let (kind, target) = of.parts();
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {MEMBER_COLUMNS} FROM memberships WHERE kind = ?1 AND target_id = ?2 ORDER BY created, user_id"
            ))?;
            st.query_map(rusqlite::params![kind, target], member_from_row)?.collect()
        })
    }

    fn memberships_of(&self, user_id: i64) -> ApiResult<Vec<Membership>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {MEMBER_COLUMNS} FROM memberships WHERE user_id = ?1 ORDER BY kind, target_id"))?;
            st.query_map([user_id], member_from_row)?.collect()
        })
    }

    fn remove_member(&self, of: MemberOf, user_id: i64) -> ApiResult<bool> {
        let (kind, target) = of.parts();
        let n = self.with(|c| {
            c.execute_cached(
                "DELETE FROM memberships WHERE kind = ?1 AND target_id = ?2 AND user_id = ?3",
                rusqlite::params![kind, target, user_id],
            )
        })?;
        Ok(n > 0)
    }

    fn insert_invitation(&self, i: &Invitation) -> ApiResult<i64> {
        let (kind, target) = i.of.parts();
        self.with(|c| {
            c.execute_cached(
                "INSERT INTO invitations (kind, target_id, user_id, role, reason, created, expires, creator_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![kind, target, i.user_id, i.role, i.reason, i.created, i.expires, i.creator_id],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn invitation(&self, id: i64) -> ApiResult<Option<Invitation>> {
        self.with(|c| {
            c.query_row_cached(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = ?1"), [id], invitation_from_row).optional()
        })
    }

    fn invitations(&self, of: MemberOf) -> ApiResult<Vec<Invitation>> {
        let (kind, target) = of.parts();
        self.with(|c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE kind = ?1 AND target_id = ?2 ORDER BY id"))?;
            st.query_map(rusqlite::params![kind, target], invitation_from_row)?.collect()
        })
    }

    fn invitations_of(&self, user_id: i64) -> ApiResult<Vec<Invitation>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE user_id = ?1 ORDER BY id"))?;
            st.query_map([user_id], invitation_from_row)?.collect()
        })
    }

    fn accept_invitation(&self, id: i64, now: &str) -> ApiResult<bool> {
        self.tx(|tx| {
            let Some(i) = tx
                .query_row_cached(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = ?1"), [id], invitation_from_row)
                .optional()?
            else {
                return Ok(false);
            };
            let m = Membership {
                of: i.of,
                user_id: i.user_id,
                role: i.role,
                created: now.to_string(),
                expires: i.expires,
                reason: i.reason,
                invitor_id: i.creator_id,
            };
            write_member(tx, &m)?;
            tx.execute_cached("DELETE FROM invitations WHERE id = ?1", [id])?;
            Ok::<_, rusqlite::Error>(true)
        })
        .map_err(Into::into)
    }

    fn delete_invitation(&self, id: i64) -> ApiResult<bool> {
        let n = self.with(|c| c.execute_cached("DELETE FROM invitations WHERE id = ?1", [id]))?;
        Ok(n > 0)
    }
}

/// The behaviour every `OrganizationStore` must have; `organization_store_suite!` runs each check.
#[doc(hidden)]
pub mod suite {
    use super::*;

    const NOW: &str = "2026-01-01T00:00:00+0000";

    pub fn maintainers_and_organizations_kept_and_listed<S: OrganizationStore>(s: &S) {
        let m = s.insert_maintainer(&Maintainer { id: 0, name: "M".into(), created: NOW.into(), zendesk_url: None }).unwrap();
        let m2 = s.insert_maintainer(&Maintainer { id: 0, name: "M2".into(), created: NOW.into(), zendesk_url: None }).unwrap();
        let org = |maintainer_id, name: &str| Organization {
            id: 0,
            maintainer_id,
            name: name.into(),
            crm_id: String::new(),
            allow_auto_join: true,
            mfa_required: false,
            created: NOW.into(),
        };
        let o1 = s.insert_organization(&org(m, "a")).unwrap();
        let o2 = s.insert_organization(&org(m2, "b")).unwrap();
        assert_eq!(s.organizations(Some(m)).unwrap().iter().map(|o| o.id).collect::<Vec<_>>(), vec![o1]);
        assert_eq!(s.organizations(None).unwrap().len(), 2);
        let mut o = s.organization(o2).unwrap().unwrap();
        o.name = "renamed".into();
        o.maintainer_id = m;
        s.update_organization(&o).unwrap();
        assert_eq!(s.organization(o2).unwrap().unwrap(), o);
        let mut mm = s.maintainer(m2).unwrap().unwrap();
        mm.zendesk_url = Some("https://z".into());
        s.update_maintainer(&mm).unwrap();
        assert_eq!(s.maintainers().unwrap()[1], mm);
        s.delete_organization(o1).unwrap();
        assert_eq!(s.organization(o1).unwrap(), None);
        s.delete_maintainer(m2).unwrap();
        assert_eq!(s.maintainer(m2).unwrap(), None);
    }

    pub fn invitations_become_memberships<S: OrganizationStore>(s: &S) {
        let project = MemberOf::Project(7);
        let inv = Invitation {
            id: 0,
            of: project,
            user_id: 3,
            role: "guest".into(),
            reason: "help".into(),
            created: NOW.into(),
            expires: None,
            creator_id: Some(1),
        };
        let id = s.insert_invitation(&inv).unwrap();
        assert_eq!(s.invitations(project).unwrap().len(), 1);
        assert_eq!(s.invitations_of(3).unwrap()[0].id, id);
        assert!(s.accept_invitation(id, "2026-02-01T00:00:00+0000").unwrap());
        assert!(!s.accept_invitation(id, NOW).unwrap(), "accepted once");
        assert!(s.invitations(project).unwrap().is_empty());
        let m = s.member(project, 3).unwrap().expect("a member now");
        assert_eq!((m.role.as_str(), m.invitor_id, m.reason.as_str()), ("guest", Some(1), "help"));
        s.set_member(&Membership { role: "admin".into(), ..m.clone() }).unwrap();
        assert_eq!(s.members(project).unwrap()[0].role, "admin");
        s.set_member(&Membership { of: MemberOf::Organization(2), ..m }).unwrap();
        assert_eq!(s.memberships_of(3).unwrap().len(), 2);
        assert!(s.remove_member(project, 3).unwrap());
        assert!(!s.remove_member(project, 3).unwrap());
        let id = s.insert_invitation(&inv).unwrap();
        assert!(s.delete_invitation(id).unwrap());
        assert_eq!(s.invitation(id).unwrap(), None);
    }
}

#[macro_export]
macro_rules! organization_store_suite {
    ($make:expr) => {
        #[test]
        fn organization_store_maintainers_and_organizations_kept_and_listed() {
            $crate::meta::organizations::suite::maintainers_and_organizations_kept_and_listed(&$make());
        }
        #[test]
        fn organization_store_invitations_become_memberships() {
            $crate::meta::organizations::suite::invitations_become_memberships(&$make());
        }
    };
}
