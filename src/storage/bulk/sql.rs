//! Rows per multi-row statement and the placeholders of such statements, per engine.

use crate::storage::Engine;

/// Rows per multi-row statement (INSERT, or keys in an `IN` list). Placeholders are what
/// decides it: SQLite looks a *named* parameter (`$7`) up by a linear search of the
/// statement's names for every bind, so binding a statement of n named parameters costs
/// O(n²) (what limited these statements to 32 rows before); its anonymous `?` is bound by
/// position, so on SQLite the statements use `?` and can be large. PostgreSQL numbers its
/// parameters natively. Both engines cache the prepared statement per connection, so a
/// chunk reuses the same few statements; larger statements mean fewer round trips.
pub(super) fn rows_per_statement(engine: Engine, cols: usize) -> usize {
    // SQLite allows 32,766 parameters a statement, PostgreSQL 65,535.
    let max = match engine {
        Engine::Sqlite => 256,
        Engine::Postgres => 256,
    };
    max.min(30_000 / cols.max(1))
}

/// `(?, ?, …), (…)` (SQLite) or `($1, $2, …), (…)` (PostgreSQL) for `rows` rows of `cols`
/// columns, the first placeholder numbered `first`.
pub(super) fn values(engine: Engine, rows: usize, cols: usize, first: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            push_placeholder(&mut s, engine, first + r * cols + c);
        }
        s.push(')');
    }
    s
}

/// `?, ?, …` or `$2, $3, …` for an IN list of `n` values, the first numbered `first`.
pub(super) fn in_list(engine: Engine, n: usize, first: usize) -> String {
    let mut s = String::with_capacity(n * 6);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        push_placeholder(&mut s, engine, first + i);
    }
    s
}

fn push_placeholder(s: &mut String, engine: Engine, n: usize) {
    use std::fmt::Write as _;
    match engine {
        Engine::Sqlite => s.push('?'),
        Engine::Postgres => {
            let _ = write!(s, "${n}");
        }
    }
}

/// `$n` (PostgreSQL) or `?` (SQLite) for a single parameter numbered `n`, in statements that
/// also hold a [`values`] or [`in_list`] (SQLite cannot mix `?` with `$n`).
pub(super) fn param(engine: Engine, n: usize) -> String {
    let mut s = String::new();
    push_placeholder(&mut s, engine, n);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_engine() {
        assert_eq!(values(Engine::Sqlite, 2, 2, 1), "(?, ?), (?, ?)");
        assert_eq!(values(Engine::Postgres, 2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(in_list(Engine::Postgres, 3, 2), "$2, $3, $4");
        assert_eq!(in_list(Engine::Sqlite, 2, 2), "?, ?");
        for e in [Engine::Sqlite, Engine::Postgres] {
            assert!(rows_per_statement(e, 17) * 17 <= 32_766);
        }
    }
}
