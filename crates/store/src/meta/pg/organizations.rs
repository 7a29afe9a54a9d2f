//! Maintainers, organizations, memberships and invitations on PostgreSQL
//! (`OrganizationStore`; see ../organizations.rs). An invitation is accepted by taking it with
//! `DELETE … RETURNING`, so it turns into one membership whichever nodes accept it at once.
use postgres::GenericClient;

use super::{PgMetaStore, flag};
use crate::meta::organizations::{
    INVITATION_COLUMNS, Invitation, MAINTAINER_COLUMNS, MEMBER_COLUMNS, Maintainer, MemberOf, Membership, ORGANIZATION_COLUMNS, Organization,
    OrganizationStore,
};
use kbstack_core::Result as ApiResult;

fn maintainer_from_row(r: &postgres::Row) -> Result<Maintainer, postgres::Error> {
    Ok(Maintainer { id: r.try_get(0)?, name: r.try_get(1)?, created: r.try_get(2)?, zendesk_url: r.try_get(3)? })
}

fn organization_from_row(r: &postgres::Row) -> Result<Organization, postgres::Error> {
    Ok(Organization {
        id: r.try_get(0)?,
        maintainer_id: r.try_get(1)?,
        name: r.try_get(2)?,
        crm_id: r.try_get(3)?,
        allow_auto_join: flag(r, 4)?,
        mfa_required: flag(r, 5)?,
        created: r.try_get(6)?,
    })
}

fn member_from_row(r: &postgres::Row) -> Result<Membership, postgres::Error> {
    let kind: String = r.try_get(0)?;
    Ok(Membership {
        of: MemberOf::from_parts(&kind, r.try_get(1)?),
        user_id: r.try_get(2)?,
        role: r.try_get(3)?,
        created: r.try_get(4)?,
        expires: r.try_get(5)?,
        reason: r.try_get(6)?,
        invitor_id: r.try_get(7)?,
    })
}

fn invitation_from_row(r: &postgres::Row) -> Result<Invitation, postgres::Error> {
    let kind: String = r.try_get(1)?;
    Ok(Invitation {
        id: r.try_get(0)?,
        of: MemberOf::from_parts(&kind, r.try_get(2)?),
        user_id: r.try_get(3)?,
        role: r.try_get(4)?,
        reason: r.try_get(5)?,
        created: r.try_get(6)?,
        expires: r.try_get(7)?,
        creator_id: r.try_get(8)?,
    })
}

/// Add a member or replace their membership (SQLite's INSERT OR REPLACE).
fn write_member(c: &mut impl GenericClient, m: &Membership) -> Result<u64, postgres::Error> {
    let (kind, target) = m.of.parts();
    c.execute(
        &format!(
            "INSERT INTO memberships ({MEMBER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kind, target_id, user_id) \
             DO UPDATE SET role = EXCLUDED.role, created = EXCLUDED.created, expires = EXCLUDED.expires, reason = EXCLUDED.reason, \
             invitor_id = EXCLUDED.invitor_id"
        ),
        &[&kind, &target, &m.user_id, &m.role, &m.created, &m.expires, &m.reason, &m.invitor_id],
    )
}

fn forget(tx: &mut impl GenericClient, of: MemberOf) -> Result<(), postgres::Error> {
    let (kind, target) = of.parts();
    tx.execute("DELETE FROM memberships WHERE kind = $1 AND target_id = $2", &[&kind, &target])?;
    tx.execute("DELETE FROM invitations WHERE kind = $1 AND target_id = $2", &[&kind, &target])?;
    Ok(())
}

impl OrganizationStore for PgMetaStore {
    fn insert_maintainer(&self, m: &Maintainer) -> ApiResult<i64> {
        self.with(|c| {
            c.query_one("INSERT INTO maintainers (name, created, zendesk_url) VALUES ($1, $2, $3) RETURNING id", &[&m.name, &m.created, &m.zendesk_url])?
                .try_get(0)
        })
    }

    fn maintainer(&self, id: i64) -> ApiResult<Option<Maintainer>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {MAINTAINER_COLUMNS} FROM maintainers WHERE id = $1"), &[&id])?.as_ref().map(maintainer_from_row).transpose()
        })
    }

    fn maintainers(&self) -> ApiResult<Vec<Maintainer>> {
        self.with(|c| c.query(&format!("SELECT {MAINTAINER_COLUMNS} FROM maintainers ORDER BY id"), &[])?.iter().map(maintainer_from_row).collect())
    }

    fn update_maintainer(&self, m: &Maintainer) -> ApiResult<()> {
        self.with(|c| c.execute("UPDATE maintainers SET name = $1, zendesk_url = $2 WHERE id = $3", &[&m.name, &m.zendesk_url, &m.id]))?;
        Ok(())
    }

    fn delete_maintainer(&self, id: i64) -> ApiResult<()> {
        self.tx(|tx| {
            forget(tx, MemberOf::Maintainer(id))?;
            tx.execute("DELETE FROM maintainers WHERE id = $1", &[&id])?;
            Ok::<_, kbstack_core::Error>(())
        })
    }

    fn insert_organization(&self, o: &Organization) -> ApiResult<i64> {
        self.with(|c| {
            c.query_one(
                "INSERT INTO organizations (maintainer_id, name, crm_id, allow_auto_join, mfa_required, created) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&o.maintainer_id, &o.name, &o.crm_id, &(o.allow_auto_join as i64), &(o.mfa_required as i64), &o.created],
            )?
            .try_get(0)
        })
    }

    fn organization(&self, id: i64) -> ApiResult<Option<Organization>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1"), &[&id])?
                .as_ref()
                .map(organization_from_row)
                .transpose()
        })
    }

    fn organizations(&self, maintainer_id: Option<i64>) -> ApiResult<Vec<Organization>> {
        self.with(|c| {
            c.query(
                &format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE $1::BIGINT IS NULL OR maintainer_id = $1 ORDER BY id"),
                &[&maintainer_id],
            )?
            .iter()
            .map(organization_from_row)
            .collect()
        })
    }

    fn update_organization(&self, o: &Organization) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE organizations SET maintainer_id = $1, name = $2, crm_id = $3, allow_auto_join = $4, mfa_required = $5 WHERE id = $6",
                &[&o.maintainer_id, &o.name, &o.crm_id, &(o.allow_auto_join as i64), &(o.mfa_required as i64), &o.id],
            )
        })?;
        Ok(())
    }

    fn delete_organization(&self, id: i64) -> ApiResult<()> {
        self.tx(|tx| {
            forget(tx, MemberOf::Organization(id))?;
            tx.execute("DELETE FROM organizations WHERE id = $1", &[&id])?;
            Ok::<_, kbstack_core::Error>(())
        })
    }

    fn set_member(&self, m: &Membership) -> ApiResult<()> {
        self.with(|c| write_member(c, m))?;
        Ok(())
    }

    fn member(&self, of: MemberOf, user_id: i64) -> ApiResult<Option<Membership>> {
        let (kind, target) = of.parts();
        self.with(|c| {
            c.query_opt(
                &format!("SELECT {MEMBER_COLUMNS} FROM memberships WHERE kind = $1 AND target_id = $2 AND user_id = $3"),
                &[&kind, &target, &user_id],
            )?
            .as_ref()
            .map(member_from_row)
            .transpose()
        })
    }

    fn members(&self, of: MemberOf) -> ApiResult<Vec<Membership>> {
        let (kind, target) = of.parts();
        self.with(|c| {
            c.query(&format!("SELECT {MEMBER_COLUMNS} FROM memberships WHERE kind = $1 AND target_id = $2 ORDER BY created, user_id"), &[&kind, &target])?
                .iter()
                .map(member_from_row)
                .collect()
        })
    }

    fn memberships_of(&self, user_id: i64) -> ApiResult<Vec<Membership>> {
        self.with(|c| {
            c.query(&format!("SELECT {MEMBER_COLUMNS} FROM memberships WHERE user_id = $1 ORDER BY kind, target_id"), &[&user_id])?
                .iter()
                .map(member_from_row)
                .collect()
        })
    }

    fn remove_member(&self, of: MemberOf, user_id: i64) -> ApiResult<bool> {
        let (kind, target) = of.parts();
        let n = self.with(|c| c.execute("DELETE FROM memberships WHERE kind = $1 AND target_id = $2 AND user_id = $3", &[&kind, &target, &user_id]))?;
        Ok(n > 0)
    }

    fn insert_invitation(&self, i: &Invitation) -> ApiResult<i64> {
        let (kind, target) = i.of.parts();
        self.with(|c| {
            c.query_one(
                "INSERT INTO invitations (kind, target_id, user_id, role, reason, created, expires, creator_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[&kind, &target, &i.user_id, &i.role, &i.reason, &i.created, &i.expires, &i.creator_id],
            )?
            .try_get(0)
        })
    }

    fn invitation(&self, id: i64) -> ApiResult<Option<Invitation>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1"), &[&id])?.as_ref().map(invitation_from_row).transpose()
        })
    }

    fn invitations(&self, of: MemberOf) -> ApiResult<Vec<Invitation>> {
        let (kind, target) = of.parts();
        self.with(|c| {
            c.query(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE kind = $1 AND target_id = $2 ORDER BY id"), &[&kind, &target])?
                .iter()
                .map(invitation_from_row)
                .collect()
        })
    }

    fn invitations_of(&self, user_id: i64) -> ApiResult<Vec<Invitation>> {
        self.with(|c| {
            c.query(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE user_id = $1 ORDER BY id"), &[&user_id])?
                .iter()
                .map(invitation_from_row)
                .collect()
        })
    }

    fn accept_invitation(&self, id: i64, now: &str) -> ApiResult<bool> {
        self.tx(|tx| {
            let Some(row) = tx.query_opt(&format!("DELETE FROM invitations WHERE id = $1 RETURNING {INVITATION_COLUMNS}"), &[&id])? else {
                return Ok(false);
            };
            let i = invitation_from_row(&row)?;
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
            Ok::<_, kbstack_core::Error>(true)
        })
    }

    fn delete_invitation(&self, id: i64) -> ApiResult<bool> {
        let n = self.with(|c| c.execute("DELETE FROM invitations WHERE id = $1", &[&id]))?;
        Ok(n > 0)
    }
}
