//! Whole-table reads of a target's links and snapshots, packed by the database. Every run reads
//! every link, and every sync every snapshot: handed over row by row, 100,000 rows took about a
//! second on SQLite (each row a message from sqlx's database thread, a wake-up and a dozen
//! allocations: docs/performance.md, "Scale"), where the database builds the same rows as one
//! JSON text in a few dozen milliseconds. Rows come in chunks of [`CHUNK`], keyset-paged on
//! `(source, source_id)` (the tables' key), all in one read transaction, so the read is one
//! consistent view of the table as the single statement it replaces was.

use super::{Backend, Result, StoreRead};
use crate::model::SourceKey;
use std::sync::Arc;

/// Rows a chunk: the JSON text of one is about a megabyte, so a read holds little beyond its rows.
const CHUNK: usize = 10_000;

/// What to read: text columns (none null) of one target's rows of `table`.
pub(super) struct Packed {
    /// The table.
    pub table: &'static str,
    /// What the read is for, for its errors (`list links`).
    pub operation: &'static str,
    /// The columns handed on after the key (`source`, `source_id`), in this order.
    pub columns: &'static [&'static str],
    /// For links: the kinds to read, one after the other (`user` then `group`); empty reads every
    /// row of the target.
    pub kinds: &'static [&'static str],
}

impl StoreRead {
    /// Hand each row's key and columns to `each`, kind by kind and in key order within a kind.
    pub(super) async fn each_packed(
        &self,
        spec: &Packed,
        target_name: &str,
        mut each: impl FnMut(SourceKey, Vec<String>) -> Result<()>,
    ) -> Result<()> {
        let err = |e: &sqlx::Error| self.query_err(spec.operation, spec.table, e);
        let mut tx = self.pool.begin().await.map_err(|e| err(&e))?;
        if self.backend == Backend::Postgres {
            // SQLite's read transaction already sees one snapshot (WAL); PostgreSQL's default
            // sees each statement's own.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(|e| err(&e))?;
        }
        let kinds: Vec<Option<&str>> = match spec.kinds {
            [] => vec![None],
            kinds => kinds.iter().copied().map(Some).collect(),
        };
        // Built from this module's table and column names only; every value is bound.
        let (first, next): (Arc<str>, Arc<str>) = (
            chunk_sql(self.backend, spec, false).into(),
            chunk_sql(self.backend, spec, true).into(),
        );
        for kind in kinds {
            let mut after: Option<SourceKey> = None;
            loop {
                let sql = match after {
                    None => first.clone(),
                    Some(_) => next.clone(),
                };
                let mut query =
                    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(target_name);
                if let Some(kind) = kind {
                    query = query.bind(kind);
                }
                if let Some(key) = &after {
                    query = query.bind(key.source.clone()).bind(key.id.clone());
                }
                let text = query.fetch_one(&mut *tx).await.map_err(|e| err(&e))?;
                let rows = self.unpack(spec, &text)?;
                let full = rows.len() == CHUNK;
                after = None;
                for (key, values) in rows {
                    if full {
                        after = Some(key.clone());
                    }
                    each(key, values)?;
                }
                if after.is_none() {
                    break;
                }
            }
        }
        tx.commit().await.map_err(|e| err(&e))
    }

    /// One chunk's JSON (`[[source, source_id, column…], …]`) as keys and values.
    fn unpack(&self, spec: &Packed, text: &str) -> Result<Vec<(SourceKey, Vec<String>)>> {
        let rows: Vec<Vec<Option<String>>> = serde_json::from_str(text).map_err(|e| {
            let start: String = text.chars().take(120).collect();
            self.corrupt(
                spec.table,
                "(rows read as JSON)",
                &start,
                format!("the database's JSON of the rows cannot be read: {e}"),
            )
        })?;
        let names = ["source", "source_id"].iter().chain(spec.columns);
        let names: Vec<&'static str> = names.copied().collect();
        rows.into_iter()
            .map(|row| {
                if row.len() != names.len() {
                    return Err(self.corrupt(
                        spec.table,
                        "(rows read as JSON)",
                        &format!("{row:?}"),
                        format!("expected {} columns", names.len()),
                    ));
                }
                let mut values = Vec::with_capacity(row.len());
                for (value, name) in row.into_iter().zip(&names) {
                    let value = value.ok_or_else(|| {
                        self.corrupt(spec.table, name, "NULL", "a value is required".to_owned())
                    })?;
                    values.push(value);
                }
                let mut values = values.into_iter();
                let (source, id) = (values.next(), values.next());
                let key = SourceKey::new(source.unwrap_or_default(), id.unwrap_or_default());
                Ok((key, values.collect()))
            })
            .collect()
    }
}

/// The statement that reads one chunk as one JSON text: `$1` the target, then the kind when
/// `spec` has kinds, then (with `after`) the last key of the chunk before.
fn chunk_sql(backend: Backend, spec: &Packed, after: bool) -> String {
    let columns: Vec<&str> = ["source", "source_id"]
        .iter()
        .chain(spec.columns)
        .copied()
        .collect();
    let columns = columns.join(", ");
    let mut filter = "target_name = $1".to_owned();
    let mut next = 2;
    if !spec.kinds.is_empty() {
        filter.push_str(" AND kind = $2");
        next = 3;
    }
    if after {
        filter.push_str(&format!(
            " AND (source, source_id) > (${next}, ${})",
            next + 1
        ));
    }
    let table = spec.table;
    let chunk = format!(
        "SELECT {columns} FROM {table} WHERE {filter} ORDER BY source, source_id LIMIT {CHUNK}"
    );
    match backend {
        Backend::Sqlite => format!(
            "SELECT json_group_array(json_array({columns}) ORDER BY source, source_id) \
             FROM ({chunk})"
        ),
        Backend::Postgres => format!(
            "SELECT coalesce(json_agg(json_build_array({columns}) ORDER BY source, source_id), \
             '[]')::text FROM ({chunk}) AS chunk"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_continues_after_the_last_key_of_the_one_before() {
        let links = Packed {
            table: "links",
            operation: "list links",
            columns: &["scim_id"],
            kinds: &["user", "group"],
        };
        assert_eq!(
            chunk_sql(Backend::Sqlite, &links, true),
            "SELECT json_group_array(json_array(source, source_id, scim_id) ORDER BY source, \
             source_id) FROM (SELECT source, source_id, scim_id FROM links WHERE target_name = $1 \
             AND kind = $2 AND (source, source_id) > ($3, $4) ORDER BY source, source_id LIMIT 10000)"
        );
        let snapshots = Packed {
            table: "snapshots",
            operation: "list snapshots",
            columns: &["attr_hash"],
            kinds: &[],
        };
        assert_eq!(
            chunk_sql(Backend::Postgres, &snapshots, false),
            "SELECT coalesce(json_agg(json_build_array(source, source_id, attr_hash) ORDER BY \
             source, source_id), '[]')::text FROM (SELECT source, source_id, attr_hash FROM \
             snapshots WHERE target_name = $1 ORDER BY source, source_id LIMIT 10000) AS chunk"
        );
    }
}
