//! One walk over a parsed statement: the relations it names (in order), the CTEs it defines, the
//! table aliases, and every column reference; then column references resolved to tables.
//!
//! Resolution is by name, not by full scoping rules: `alias.col` and `table.col` go to that
//! table, an unqualified column goes to the only table the statement reads, and otherwise stays
//! unresolved (listed as such rather than guessed).
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use sqlparser::ast::{AssignmentTarget, Expr, Query, SelectItem, SetExpr, Statement, TableFactor, TableObject, Visit, Visitor};

use super::object_name;

#[derive(Default)]
pub struct Found {
    pub relations: Vec<String>,
    pub ctes: Vec<String>,
    /// alias (lowercase) → relation name.
    aliases: BTreeMap<String, String>,
    /// (qualifier, column): the qualifier as written (`o` in `o.id`), empty when none.
    refs: Vec<(String, String)>,
}

impl Visitor for Found {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.push(cte.alias.name.value.clone());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &sqlparser::ast::ObjectName) -> ControlFlow<()> {
        self.relations.push(object_name(relation));
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias: Some(alias), .. } = factor {
            self.aliases.insert(alias.name.value.to_ascii_lowercase(), object_name(name));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(ident) => self.refs.push((String::new(), ident.value.clone())),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let column = parts[parts.len() - 1].value.clone();
                let qualifier = parts[..parts.len() - 1].iter().map(|p| p.value.clone()).collect::<Vec<_>>().join(".");
                self.refs.push((qualifier, column));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

pub fn collect(stmt: &Statement) -> Found {
    let mut found = Found::default();
    let _ = stmt.visit(&mut found);
    found
}

impl Found {
    /// Columns per read table (keyed by the lowercase table name) and the unresolved ones.
    pub fn resolve(&self, reads: &[String]) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
        let mut by_table: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut unresolved: BTreeSet<String> = BTreeSet::new();
        let read_lower: Vec<String> = reads.iter().map(|r| r.to_ascii_lowercase()).collect();
        let table_of = |qualifier: &str| -> Option<String> {
            let q = qualifier.to_ascii_lowercase();
            if let Some(target) = self.aliases.get(&q) {
                return Some(target.to_ascii_lowercase());
            }
            // `schema.table.col`, or `table.col` naming the last part of a qualified table.
            read_lower.iter().find(|r| **r == q || r.rsplit('.').next() == Some(q.as_str())).cloned()
        };
        for (qualifier, column) in &self.refs {
            let table = if qualifier.is_empty() {
                (read_lower.len() == 1).then(|| read_lower[0].clone())
            } else {
                table_of(qualifier)
            };
            match table {
                Some(t) if read_lower.contains(&t) => {
                    by_table.entry(t).or_default().insert(column.clone());
                }
                // A column of a CTE, of the target, of a subquery alias: not a read table's.
                Some(_) => {}
                None if qualifier.is_empty() => {
                    unresolved.insert(column.clone());
                }
                None => {}
            }
        }
        (by_table, unresolved.into_iter().collect())
    }
}

/// The columns a statement writes: the listed ones of an INSERT, the defined ones of a CREATE
/// TABLE, the assigned ones of an UPDATE, the selected names of a CREATE … AS SELECT.
pub fn written_columns(stmt: &Statement) -> Vec<String> {
    let names = match stmt {
        Statement::Insert(i) if !i.columns.is_empty() => i.columns.iter().map(|c| c.value.clone()).collect(),
        Statement::Insert(i) => match (&i.table, &i.source) {
            (TableObject::TableName(_), Some(q)) => projection_names(q),
            _ => Vec::new(),
        },
        Statement::CreateTable(c) if !c.columns.is_empty() => c.columns.iter().map(|c| c.name.value.clone()).collect(),
        Statement::CreateTable(c) => c.query.as_deref().map(projection_names).unwrap_or_default(),
        Statement::CreateView(v) if !v.columns.is_empty() => v.columns.iter().map(|c| c.name.value.clone()).collect(),
        Statement::CreateView(v) => projection_names(&v.query),
        Statement::Update(u) => u
            .assignments
            .iter()
            .flat_map(|a| match &a.target {
                AssignmentTarget::ColumnName(n) => vec![object_name(n)],
                AssignmentTarget::Tuple(ns) => ns.iter().map(object_name).collect(),
            })
            .map(|n| n.rsplit('.').next().unwrap_or_default().to_string())
            .collect(),
        _ => Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The output column names of a query's first SELECT (`*` for a wildcard).
fn projection_names(q: &Query) -> Vec<String> {
    let mut body = q.body.as_ref();
    loop {
        match body {
            SetExpr::Select(select) => {
                return select
                    .projection
                    .iter()
                    .filter_map(|item| match item {
                        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                        SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.value.clone()),
                        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().map(|p| p.value.clone()),
                        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => Some("*".to_string()),
                        _ => None,
                    })
                    .collect();
            }
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            SetExpr::Query(inner) => body = inner.body.as_ref(),
            _ => return Vec::new(),
        }
    }
}
