//! Parsing of the `target` accepted by [`crate::SqliteStore::open`].

/// Where the database lives, as understood by [`crate::SqliteStore::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A private in-memory database.
    Memory,
    /// A file database, as an sqlx URL; `explicit_mode` when the URL sets `mode=` itself.
    File { url: String, explicit_mode: bool },
}

impl Location {
    /// Classifies `target`: a memory spelling, an `sqlite:` URL, or a plain path.
    pub(crate) fn parse(target: &str) -> Self {
        let target = target.trim();
        if matches!(target, ":memory:" | "sqlite::memory:" | "sqlite://:memory:") {
            return Location::Memory;
        }
        if let Some(rest) = target.strip_prefix("sqlite:") {
            let (database, params) = match rest.split_once('?') {
                Some((database, params)) => (database, Some(params)),
                None => (rest, None),
            };
            let database = database.strip_prefix("//").unwrap_or(database);
            let modes: Vec<&str> = params
                .into_iter()
                .flat_map(|p| p.split('&'))
                .filter_map(|kv| kv.strip_prefix("mode="))
                .collect();
            if database == ":memory:" || modes.contains(&"memory") {
                return Location::Memory;
            }
            return Location::File {
                url: target.to_owned(),
                explicit_mode: !modes.is_empty(),
            };
        }
        Location::File {
            url: format!("sqlite://{}", escape_path(target)),
            explicit_mode: false,
        }
    }

    /// The URL to hand to sea-orm.
    pub(crate) fn url(&self) -> String {
        match self {
            Location::Memory => "sqlite::memory:".to_owned(),
            Location::File { url, .. } => url.clone(),
        }
    }

    /// In-memory database.
    pub(crate) fn is_memory(&self) -> bool {
        matches!(self, Location::Memory)
    }

    /// Whether to create the file when it is missing (unless the URL chose a mode).
    pub(crate) fn create_if_missing(&self) -> bool {
        matches!(
            self,
            Location::File {
                explicit_mode: false,
                ..
            }
        )
    }
}

/// Percent-encodes what sqlx's URL parser would otherwise take as syntax: `%` (it
/// percent-decodes the path), `?` (query) and `#`.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for ch in path.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Location;

    fn file(url: &str, explicit_mode: bool) -> Location {
        Location::File {
            url: url.to_owned(),
            explicit_mode,
        }
    }

    #[test]
    fn memory_spellings() {
        for target in [
            ":memory:",
            "sqlite::memory:",
            "sqlite://:memory:",
            " sqlite::memory: ",
            "sqlite://?mode=memory",
            "sqlite:shared?mode=memory&cache=shared",
        ] {
            assert_eq!(Location::parse(target), Location::Memory, "{target}");
        }
        assert!(Location::Memory.is_memory());
        assert!(!Location::Memory.create_if_missing());
        assert_eq!(Location::Memory.url(), "sqlite::memory:");
    }

    #[test]
    fn urls_pass_through() {
        assert_eq!(
            Location::parse("sqlite://data/postern.db"),
            file("sqlite://data/postern.db", false)
        );
        assert_eq!(
            Location::parse("sqlite:postern.db"),
            file("sqlite:postern.db", false)
        );
        let rwc = Location::parse("sqlite:///var/lib/postern.db?mode=rwc");
        assert_eq!(rwc, file("sqlite:///var/lib/postern.db?mode=rwc", true));
        assert!(!rwc.create_if_missing());
        let ro = Location::parse("sqlite://postern.db?cache=private&mode=ro");
        assert_eq!(ro, file("sqlite://postern.db?cache=private&mode=ro", true));
        assert!(!Location::parse("sqlite://postern.db").is_memory());
        assert!(Location::parse("sqlite://postern.db").create_if_missing());
    }

    #[test]
    fn plain_paths_become_urls() {
        assert_eq!(
            Location::parse("postern.db"),
            file("sqlite://postern.db", false)
        );
        assert_eq!(
            Location::parse("/tmp/a b/postern.db"),
            file("sqlite:///tmp/a b/postern.db", false)
        );
        assert_eq!(
            Location::parse("/tmp/100%?#.db"),
            file("sqlite:///tmp/100%25%3F%23.db", false)
        );
        assert!(Location::parse("postern.db").create_if_missing());
    }
}
