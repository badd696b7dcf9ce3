//! Database migrations: `migrations/NNN_name.up.sql` and the optional
//! `migrations/NNN_name.down.sql`, collected into [`Migration`]s sorted by
//! version.

use std::collections::BTreeMap;

use super::error::PackageError;

/// One schema migration of the plugin's private database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// `NNN` from the file name (at least 1; unique within a package).
    pub version: u32,
    /// `name` from the file name.
    pub name: String,
    /// The SQL that applies the migration.
    pub up: String,
    /// The SQL that reverts it, if the author wrote one.
    pub down: Option<String>,
}

impl Migration {
    /// The archive path of the up migration, e.g. `migrations/001_init.up.sql`.
    pub fn up_path(&self) -> String {
        format!("migrations/{:03}_{}.up.sql", self.version, self.name)
    }

    /// The archive path of the down migration, e.g. `migrations/001_init.down.sql`.
    pub fn down_path(&self) -> String {
        format!("migrations/{:03}_{}.down.sql", self.version, self.name)
    }
}

/// Which half of a migration a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Up,
    Down,
}

/// The parts of a migration file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MigrationFile {
    pub(crate) version: u32,
    pub(crate) name: String,
    pub(crate) direction: Direction,
}

/// Parses `NNN_name.up.sql` / `NNN_name.down.sql` (just the file name).
pub(crate) fn parse_file_name(file: &str) -> Option<MigrationFile> {
    let (stem, direction) = if let Some(stem) = file.strip_suffix(".up.sql") {
        (stem, Direction::Up)
    } else {
        (file.strip_suffix(".down.sql")?, Direction::Down)
    };
    let (digits, name) = stem.split_once('_')?;
    let digits_ok = (1..=9).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    let name_ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !digits_ok || !name_ok {
        return None;
    }
    let version: u32 = digits.parse().ok().filter(|v| *v >= 1)?;
    Some(MigrationFile {
        version,
        name: name.to_owned(),
        direction,
    })
}

/// Collects migration files as they are found, then pairs them up.
#[derive(Debug, Default)]
pub(crate) struct MigrationSet {
    ups: BTreeMap<u32, (String, Migration)>,
    downs: BTreeMap<u32, (String, MigrationFile, String)>,
}

impl MigrationSet {
    /// Adds the file at `entry` (its archive path) holding `sql`.
    pub(crate) fn add(
        &mut self,
        entry: &str,
        file: MigrationFile,
        sql: String,
    ) -> Result<(), PackageError> {
        let version = file.version;
        let taken = match file.direction {
            Direction::Up => self.ups.get(&version).map(|(other, _)| other),
            Direction::Down => self.downs.get(&version).map(|(other, _, _)| other),
        };
        if let Some(other) = taken {
            return Err(PackageError::DuplicateMigration {
                entry: entry.to_owned(),
                version,
                other: other.clone(),
            });
        }
        match file.direction {
            Direction::Up => {
                let migration = Migration {
                    version,
                    name: file.name,
                    up: sql,
                    down: None,
                };
                self.ups.insert(version, (entry.to_owned(), migration));
            }
            Direction::Down => {
                self.downs.insert(version, (entry.to_owned(), file, sql));
            }
        }
        Ok(())
    }

    /// Pairs each down with its up; sorted by version.
    pub(crate) fn finish(mut self) -> Result<Vec<Migration>, PackageError> {
        for (version, (entry, file, sql)) in self.downs {
            let up_entry = format!("migrations/{:03}_{}.up.sql", version, file.name);
            match self.ups.get_mut(&version) {
                Some((_, migration)) if migration.name == file.name => migration.down = Some(sql),
                _ => {
                    return Err(PackageError::MigrationDownWithoutUp {
                        entry,
                        up: up_entry,
                    });
                }
            }
        }
        Ok(self
            .ups
            .into_values()
            .map(|(_, migration)| migration)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> MigrationFile {
        parse_file_name(name).unwrap()
    }

    #[test]
    fn file_names() {
        assert_eq!(
            parse_file_name("001_init.up.sql"),
            Some(MigrationFile {
                version: 1,
                name: "init".into(),
                direction: Direction::Up
            })
        );
        assert_eq!(
            parse_file_name("12_add-index.down.sql").unwrap().direction,
            Direction::Down
        );
        for bad in [
            "init.up.sql",
            "001.up.sql",
            "001_.up.sql",
            "000_init.up.sql",
            "abc_init.up.sql",
            "001_init.sql",
            "001_Init.up.sql",
            "001_init.up.sql.bak",
            "0000000001_init.up.sql",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn pairs_and_sorts() {
        let mut set = MigrationSet::default();
        set.add("migrations/002_b.up.sql", file("002_b.up.sql"), "B".into())
            .unwrap();
        set.add(
            "migrations/001_a.down.sql",
            file("001_a.down.sql"),
            "-A".into(),
        )
        .unwrap();
        set.add("migrations/001_a.up.sql", file("001_a.up.sql"), "A".into())
            .unwrap();
        let migrations = set.finish().unwrap();
        assert_eq!(
            migrations,
            vec![
                Migration {
                    version: 1,
                    name: "a".into(),
                    up: "A".into(),
                    down: Some("-A".into())
                },
                Migration {
                    version: 2,
                    name: "b".into(),
                    up: "B".into(),
                    down: None
                },
            ]
        );
        assert_eq!(migrations[0].up_path(), "migrations/001_a.up.sql");
        assert_eq!(migrations[0].down_path(), "migrations/001_a.down.sql");
    }

    #[test]
    fn a_down_needs_its_up() {
        let mut set = MigrationSet::default();
        set.add(
            "migrations/001_a.down.sql",
            file("001_a.down.sql"),
            String::new(),
        )
        .unwrap();
        let err = set.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "archive entry \"migrations/001_a.down.sql\": a down migration needs its up migration \
             \"migrations/001_a.up.sql\""
        );
        let mut set = MigrationSet::default();
        set.add(
            "migrations/001_a.up.sql",
            file("001_a.up.sql"),
            String::new(),
        )
        .unwrap();
        set.add(
            "migrations/001_b.down.sql",
            file("001_b.down.sql"),
            String::new(),
        )
        .unwrap();
        assert!(matches!(
            set.finish(),
            Err(PackageError::MigrationDownWithoutUp { .. })
        ));
    }

    #[test]
    fn versions_are_unique() {
        let mut set = MigrationSet::default();
        set.add(
            "migrations/001_a.up.sql",
            file("001_a.up.sql"),
            String::new(),
        )
        .unwrap();
        let err = set
            .add("migrations/1_b.up.sql", file("1_b.up.sql"), String::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "archive entry \"migrations/1_b.up.sql\": migration version 1 is also used by \
             \"migrations/001_a.up.sql\""
        );
    }
}
