//! Opening `events.redb`: verified before anything is served from it, and refused with a message that says what is
//! wrong and what to do — damage, an empty file, access (permissions, a read-only mount) and a second server are told
//! apart, because their remedies differ (moving a damaged file away discards it; a permission problem only needs
//! fixing).
//!
//! Every open runs redb's integrity check (`Builder::set_check_integrity_on_open`): the checksum of every page of the
//! committed trees is verified, so a file altered outside redb is refused with an error instead of being trusted (a
//! plain redb open may panic on such a file, or read altered bytes). Writes use two-phase commit, so a commit that
//! fails verification at the next open is damage, never the torn end of an interrupted commit: redb then refuses the
//! file instead of silently falling back to the commit before it (which would drop acknowledged events and reuse
//! their positions).

use std::path::Path;

use redb::{Database, DatabaseError, StorageError};

/// Why the data file cannot be used; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file exists but is empty: redb never leaves a file empty once it has written to it.
    #[error(
        "the file is empty (0 bytes): it was truncated or replaced (a failed copy or restore?); starting on it would \
         silently begin a new, empty history. Restore it from a backup; or, if the server never ran on this data \
         dir, or to start with empty data on purpose (a new epoch: clients get a replay-gap), delete the file"
    )]
    Empty,
    /// The file or its folder cannot be read or written: nothing says the data is damaged.
    #[error(
        "cannot read and write it ({0}). This is not damage to the data: do not move or delete the file; check that \
         the server's user can read and write the file and its folder, that the file system is mounted read-write \
         and that the disk works, then start again"
    )]
    Access(std::io::Error),
    /// Another process holds the file.
    #[error("another server process is using it; stop it or use another --data-dir")]
    InUse,
    /// The file fails verification (altered outside redb) or is not a redb file at all.
    #[error(
        "the file is damaged or not a typed-eventsource data file ({0}); nothing is served from it. Keep it, and \
         either copy what still verifies into a new file (`typed-eventsource-server salvage --from FILE --to NEW`, \
         then move NEW in its place), or restore it from a backup, or move it away to start with empty data (a new \
         epoch: clients get a replay-gap)"
    )]
    Damaged(String),
    /// A redb file of a format this redb does not read.
    #[error("the file was written by another version of the storage engine ({0}); open it with the server version that wrote it")]
    Format(String),
}

impl OpenError {
    fn from_redb(e: DatabaseError) -> Self {
        match e {
            DatabaseError::DatabaseAlreadyOpen => OpenError::InUse,
            // redb's "not a redb database" (a damaged header, or a foreign file) is an I/O error of this kind; a read
            // past the end of the file is a header that gives sizes the file does not have (altered, or truncated).
            DatabaseError::Storage(StorageError::Io(io))
                if matches!(io.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof) =>
            {
                OpenError::Damaged(io.to_string())
            }
            DatabaseError::Storage(StorageError::Io(io)) => OpenError::Access(io),
            DatabaseError::Storage(StorageError::Corrupted(detail)) => OpenError::Damaged(detail),
            DatabaseError::UpgradeRequired(version) => OpenError::Format(format!("file format {version}")),
            other => OpenError::Damaged(other.to_string()),
        }
    }
}

/// The builder of every file open: verify every page first.
fn checked() -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_check_integrity_on_open(true);
    builder
}

/// Opens (or creates) the data file at `path`, verified; see the [module docs](self).
pub fn open(path: &Path) -> Result<Database, OpenError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() == 0 => return Err(OpenError::Empty),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(OpenError::Access(e)),
    }
    checked().create(path).map_err(OpenError::from_redb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tes-opening-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_empty_file_is_refused_and_left_as_it_is() {
        let dir = temp("empty");
        let path = dir.join("events.redb");
        std::fs::write(&path, b"").unwrap();
        let e = open(&path).unwrap_err();
        assert!(matches!(e, OpenError::Empty), "{e}");
        let text = e.to_string();
        assert!(text.contains("empty (0 bytes)") && text.contains("new, empty history"), "{text}");
        assert!(text.contains("Restore it from a backup") && text.contains("delete the file"), "{text}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "the file is not initialized");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Found by the integrity test's random flips: byte 16 of a file's header set to 0x5e (a size field) made redb
    /// read past the end of the file ("failed to fill whole buffer"), which was called an access problem ("not damage
    /// to the data"). The file is damaged; reading it is not the problem.
    #[test]
    fn a_read_past_the_end_of_the_file_is_damage() {
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "failed to fill whole buffer");
        let e = OpenError::from_redb(DatabaseError::Storage(StorageError::Io(eof)));
        assert!(matches!(e, OpenError::Damaged(_)), "{e}");
        assert!(e.to_string().contains("damaged") && e.to_string().contains("salvage"), "{e}");
    }

    #[test]
    fn a_missing_file_is_created() {
        let dir = temp("missing");
        let path = dir.join("events.redb");
        drop(open(&path).unwrap());
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn access_errors_are_not_called_damage() {
        let e = OpenError::from_redb(DatabaseError::Storage(StorageError::Io(std::io::Error::from(
            std::io::ErrorKind::ReadOnlyFilesystem,
        ))));
        let text = e.to_string();
        assert!(matches!(e, OpenError::Access(_)), "{text}");
        assert!(text.contains("not damage") && text.contains("do not move or delete the file"), "{text}");
        assert!(!text.contains("damaged") && !text.contains("move it away"), "{text}");
        let e = OpenError::from_redb(DatabaseError::Storage(StorageError::Io(std::io::Error::from(
            std::io::ErrorKind::PermissionDenied,
        ))));
        assert!(matches!(e, OpenError::Access(_)), "{e}");
    }

    #[test]
    fn damage_names_the_salvage_command_and_the_other_ways_out() {
        let e = OpenError::from_redb(DatabaseError::Storage(StorageError::Corrupted("page checksum".into())));
        let text = e.to_string();
        assert!(matches!(e, OpenError::Damaged(_)), "{text}");
        assert!(text.contains("page checksum"), "{text}");
        assert!(text.contains("typed-eventsource-server salvage --from FILE --to NEW"), "{text}");
        assert!(text.contains("restore it from a backup") && text.contains("move it away"), "{text}");
    }

    #[test]
    fn a_foreign_file_is_damage_not_access() {
        let dir = temp("foreign");
        let path = dir.join("events.redb");
        std::fs::write(&path, b"this is not a database, but a text file of some length: ".repeat(200)).unwrap();
        let e = open(&path).unwrap_err();
        assert!(matches!(e, OpenError::Damaged(_)), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_process_is_told_apart() {
        assert!(OpenError::from_redb(DatabaseError::DatabaseAlreadyOpen)
            .to_string()
            .contains("another server process"));
    }
}
