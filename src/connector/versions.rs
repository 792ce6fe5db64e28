//! Connector version lifecycle as decisions (DESIGN §7): given the versions and
//! whether connections use them, which state changes a publish or a clean-up
//! writes. The platform layer only reads the rows and writes the changes.

use super::VersionState;

/// One version as the decisions need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRow {
    /// Version number (1, 2, …).
    pub version: u32,
    /// Its state.
    pub state: VersionState,
    /// Whether a connection still uses it.
    pub in_use: bool,
}

/// Why a version cannot be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The connector has no such version.
    #[error("no such version")]
    NoSuchVersion,
    /// The version is primary already.
    #[error("the version is already primary")]
    AlreadyPrimary,
}

impl PublishError {
    /// HTTP status for the API: 404 or 409.
    pub fn status(self) -> u16 {
        match self {
            Self::NoSuchVersion => 404,
            Self::AlreadyPrimary => 409,
        }
    }
}

/// What a former primary becomes: `active` while a connection uses it.
fn retired(in_use: bool) -> VersionState {
    if in_use {
        VersionState::Active
    } else {
        VersionState::Archived
    }
}

/// The state changes that make `target` primary: a draft is published, an active or
/// archived version comes back (rollback); the previous primary retires.
pub fn publish(rows: &[VersionRow], target: u32) -> Result<Vec<(u32, VersionState)>, PublishError> {
    let row = rows
        .iter()
        .find(|r| r.version == target)
        .ok_or(PublishError::NoSuchVersion)?;
    match row.state {
        VersionState::Primary => return Err(PublishError::AlreadyPrimary),
        VersionState::Draft | VersionState::Active | VersionState::Archived => {}
    }
    let mut changes = vec![(target, VersionState::Primary)];
    // At most one primary is expected; retiring every one heals a bad state.
    for r in rows {
        if r.state == VersionState::Primary && r.version != target {
            changes.push((r.version, retired(r.in_use)));
        }
    }
    Ok(changes)
}

/// Active versions no connection uses any more become archived.
pub fn settle(rows: &[VersionRow]) -> Vec<(u32, VersionState)> {
    rows.iter()
        .filter(|r| r.state == VersionState::Active && !r.in_use)
        .map(|r| (r.version, VersionState::Archived))
        .collect()
}

/// The number of the next version: one above the highest (1 for none).
pub fn next_version(rows: &[VersionRow]) -> u32 {
    rows.iter()
        .map(|r| r.version)
        .max()
        .map_or(1, |v| v.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use VersionState::{Active, Archived, Draft, Primary};

    fn row(version: u32, state: VersionState, in_use: bool) -> VersionRow {
        VersionRow {
            version,
            state,
            in_use,
        }
    }

    #[test]
    fn publishing_a_draft_retires_the_primary_by_use() {
        let used = [row(1, Primary, true), row(2, Draft, false)];
        assert_eq!(publish(&used, 2), Ok(vec![(2, Primary), (1, Active)]));
        let unused = [row(1, Primary, false), row(2, Draft, false)];
        assert_eq!(publish(&unused, 2), Ok(vec![(2, Primary), (1, Archived)]));
        assert_eq!(publish(&[row(1, Draft, false)], 1), Ok(vec![(1, Primary)]));
    }

    #[test]
    fn rollback_to_active_or_archived() {
        let rows = [
            row(1, Archived, false),
            row(2, Active, true),
            row(3, Primary, true),
        ];
        assert_eq!(publish(&rows, 1), Ok(vec![(1, Primary), (3, Active)]));
        assert_eq!(publish(&rows, 2), Ok(vec![(2, Primary), (3, Active)]));
    }

    #[test]
    fn refuses_unknown_and_primary_targets() {
        let rows = [row(1, Primary, false)];
        assert_eq!(publish(&rows, 1), Err(PublishError::AlreadyPrimary));
        assert_eq!(publish(&rows, 9), Err(PublishError::NoSuchVersion));
        assert_eq!(publish(&[], 1), Err(PublishError::NoSuchVersion));
        assert_eq!(PublishError::NoSuchVersion.status(), 404);
        assert_eq!(PublishError::AlreadyPrimary.status(), 409);
    }

    #[test]
    fn settle_archives_unused_active_versions_only() {
        let rows = [
            row(1, Active, false),
            row(2, Active, true),
            row(3, Primary, false),
            row(4, Draft, false),
            row(5, Archived, false),
        ];
        assert_eq!(settle(&rows), vec![(1, Archived)]);
    }

    #[test]
    fn next_version_is_one_above_the_highest() {
        assert_eq!(next_version(&[]), 1);
        assert_eq!(
            next_version(&[row(3, Primary, false), row(1, Archived, false)]),
            4
        );
        assert_eq!(next_version(&[row(u32::MAX, Draft, false)]), u32::MAX);
    }
}
