//! Reading a D1 error message, the one place that does: a UNIQUE violation and the
//! column it names (SQLite's wording, which D1 passes on inside its own prefix),
//! or anything else. Callers match on the result, never on message text.

/// What a D1 error message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum D1Failure<'a> {
    /// A UNIQUE constraint refused the write, on this column (`id` when the
    /// message names none).
    Unique(&'a str),
    /// Anything else (unreachable database, bad statement, ...).
    Other,
}

/// Classifies a D1 error message.
pub fn classify(message: &str) -> D1Failure<'_> {
    if !message.contains("UNIQUE") {
        return D1Failure::Other;
    }
    D1Failure::Unique(unique_column(message).unwrap_or("id"))
}

/// The column of `UNIQUE constraint failed: table.column`.
fn unique_column(message: &str) -> Option<&str> {
    let rest = message.split("UNIQUE constraint failed: ").nth(1)?;
    let target = rest.split([',', ':', ' ']).next()?;
    let column = target.rsplit('.').next()?;
    (!column.is_empty()).then_some(column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_name_their_column() {
        let cases = [
            (
                "D1_ERROR: UNIQUE constraint failed: domains.domain: SQLITE_CONSTRAINT",
                D1Failure::Unique("domain"),
            ),
            (
                "UNIQUE constraint failed: tenants.id",
                D1Failure::Unique("id"),
            ),
            (
                "UNIQUE constraint failed: routes.tenant_id, routes.id",
                D1Failure::Unique("tenant_id"),
            ),
            ("UNIQUE constraint failed: ", D1Failure::Unique("id")),
            ("something UNIQUE happened", D1Failure::Unique("id")),
            ("D1_ERROR: no such table: domains", D1Failure::Other),
            ("", D1Failure::Other),
            ("UNIQUE constraint failed: é.ü", D1Failure::Unique("ü")),
        ];
        for (message, want) in cases {
            assert_eq!(classify(message), want, "{message}");
        }
    }
}
