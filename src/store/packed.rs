//! Whole-table reads of a target's links and snapshots, packed by the database. Every run reads
//! every link, and every sync every snapshot: handed over row by row, 100,000 rows took about a
//! second on SQLite (each row a message from sqlx's database thread, a wake-up and a dozen
//! allocations: docs/performance.md, "Scale"), where the database builds the same rows as JSON
//! text in a few dozen milliseconds. Rows come in chunks of [`CHUNK`], keyset-paged on the
//! table's primary key, all in one read transaction, so the read is one consistent view of the
//! table as the single statement it replaces was.

use super::{Backend, Result, StoreRead};
use std::sync::Arc;

/// Rows a chunk. A chunk's JSON must fit one text value (1 GB in SQLite and PostgreSQL): rows
/// of 200 KB each would still fit, far beyond any key, id or name a source or target gives.
/// Smaller chunks cost a query each: 100,000 links took 0.9 s in chunks of 1,000 against
/// 0.3 s in chunks of 10,000, read beside the mapping.
const CHUNK: usize = 5_000;

/// What to read: text columns (none null) of one target's rows of `table`.
pub(super) struct Packed {
    /// The table.
    pub table: &'static str,
    /// What the read is for, for its errors (`list links`).
    pub operation: &'static str,
    /// The primary key after `target_name`: the rows' order and where each chunk resumes.
    pub key: &'static [&'static str],
    /// The columns handed on after the key's, in this order.
    pub columns: &'static [&'static str],
}

impl Packed {
    /// Every column read: the key's, then the others.
    fn all(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.key.iter().chain(self.columns).copied()
    }
}

impl StoreRead {
    /// Hand each row's values (the key's columns, then the others) to `each`, in key order.
    pub(super) async fn each_packed(
        &self,
        spec: &Packed,
        target_name: &str,
        mut each: impl FnMut(Vec<String>) -> Result<()>,
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
        // Built from this module's table and column names only; every value is bound.
        let (first, next): (Arc<str>, Arc<str>) = (
            chunk_sql(self.backend, spec, false).into(),
            chunk_sql(self.backend, spec, true).into(),
        );
        let mut after: Option<Vec<String>> = None;
        loop {
            let sql = match after {
                None => first.clone(),
                Some(_) => next.clone(),
            };
            let mut query =
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(target_name);
            for value in after.iter().flatten() {
                query = query.bind(value.clone());
            }
            let text = query.fetch_one(&mut *tx).await.map_err(|e| err(&e))?;
            let rows = self.unpack(spec, &text)?;
            let full = rows.len() == CHUNK;
            after = None;
            for row in rows {
                if full {
                    after = Some(row[..spec.key.len()].to_vec());
                }
                each(row)?;
            }
            if after.is_none() {
                break;
            }
        }
        tx.commit().await.map_err(|e| err(&e))
    }

    /// One chunk's JSON (`[[key…, column…], …]`) as rows of values.
    fn unpack(&self, spec: &Packed, text: &str) -> Result<Vec<Vec<String>>> {
        const WHOLE: &str = "(rows read as JSON)";
        // The text holds names and ids: an error gives where it broke, never the text.
        let rows: Vec<Vec<Option<String>>> = serde_json::from_str(text).map_err(|e| {
            let at = format!("{} bytes", text.len());
            let reason = format!("the database's JSON of the rows cannot be read: {e}");
            self.corrupt(spec.table, WHOLE, &at, reason)
        })?;
        let names: Vec<&'static str> = spec.all().collect();
        rows.into_iter()
            .map(|row| {
                if row.len() != names.len() {
                    let at = format!("{} values", row.len());
                    let reason = format!("expected {} columns", names.len());
                    return Err(self.corrupt(spec.table, WHOLE, &at, reason));
                }
                row.into_iter()
                    .zip(&names)
                    .map(|(value, name)| {
                        value.ok_or_else(|| {
                            self.corrupt(spec.table, name, "NULL", "a value is required".into())
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

/// The statement that reads one chunk as one JSON text: `$1` the target, then (with `after`)
/// the key of the last row of the chunk before.
fn chunk_sql(backend: Backend, spec: &Packed, after: bool) -> String {
    let columns = spec.all().collect::<Vec<_>>().join(", ");
    let key = spec.key.join(", ");
    let mut filter = "target_name = $1".to_owned();
    if after {
        let params: Vec<String> = (2..2 + spec.key.len()).map(|n| format!("${n}")).collect();
        filter.push_str(&format!(" AND ({key}) > ({})", params.join(", ")));
    }
    let table = spec.table;
    let chunk =
        format!("SELECT {columns} FROM {table} WHERE {filter} ORDER BY {key} LIMIT {CHUNK}");
    match backend {
        Backend::Sqlite => {
            format!("SELECT json_group_array(json_array({columns}) ORDER BY {key}) FROM ({chunk})")
        }
        Backend::Postgres => format!(
            "SELECT coalesce(json_agg(json_build_array({columns}) ORDER BY {key}), '[]')::text \
             FROM ({chunk}) AS chunk"
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
            key: &["kind", "source", "source_id"],
            columns: &["scim_id"],
        };
        assert_eq!(
            chunk_sql(Backend::Sqlite, &links, true),
            "SELECT json_group_array(json_array(kind, source, source_id, scim_id) ORDER BY kind, \
             source, source_id) FROM (SELECT kind, source, source_id, scim_id FROM links WHERE \
             target_name = $1 AND (kind, source, source_id) > ($2, $3, $4) ORDER BY kind, source, \
             source_id LIMIT 5000)"
        );
        let snapshots = Packed {
            table: "snapshots",
            operation: "list snapshots",
            key: &["source", "source_id"],
            columns: &["attr_hash"],
        };
        assert_eq!(
            chunk_sql(Backend::Postgres, &snapshots, false),
            "SELECT coalesce(json_agg(json_build_array(source, source_id, attr_hash) ORDER BY \
             source, source_id), '[]')::text FROM (SELECT source, source_id, attr_hash FROM \
             snapshots WHERE target_name = $1 ORDER BY source, source_id LIMIT 5000) AS chunk"
        );
    }
}
