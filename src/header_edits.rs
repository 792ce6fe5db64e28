//! Header edits as data: a `HeaderAccess` that reads through to a base view (each
//! name at most once) and only logs writes, so the JS entry can apply a whole
//! phase's edits itself instead of crossing into JS per edit.

use crate::message::HeaderAccess;
use std::cell::RefCell;
use std::fmt::Write;

/// One logged edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Replace the header.
    Set(String, String),
    /// Add a value.
    Append(String, String),
    /// Remove the header.
    Remove(String),
}

impl Edit {
    fn name(&self) -> &str {
        match self {
            Self::Set(n, _) | Self::Append(n, _) | Self::Remove(n) => n,
        }
    }
}

/// Edits over a base view.
pub struct EditLog<'a> {
    base: &'a dyn HeaderAccess,
    /// Whether the base may hold `Set-Cookie` values worth reading (the caller
    /// knows for free; reading them costs a crossing).
    base_cookies: bool,
    reads: RefCell<Vec<(String, Option<String>)>>,
    edits: Vec<Edit>,
}

impl<'a> EditLog<'a> {
    /// An empty log over `base`.
    pub fn new(base: &'a dyn HeaderAccess, base_cookies: bool) -> Self {
        Self {
            base,
            base_cookies,
            reads: RefCell::new(Vec::new()),
            edits: Vec::new(),
        }
    }

    /// The edits so far, in order.
    pub fn edits(&self) -> &[Edit] {
        &self.edits
    }

    /// The edits as `op\nname\nvalue` triples joined by `\n` (`s` | `a` | `d`;
    /// names and values never hold a newline), each preceded by `\n`.
    pub fn write_to(&self, out: &mut String) {
        for e in &self.edits {
            let _ = match e {
                Edit::Set(n, v) => write!(out, "\ns\n{n}\n{v}"),
                Edit::Append(n, v) => write!(out, "\na\n{n}\n{v}"),
                Edit::Remove(n) => write!(out, "\nd\n{n}\n"),
            };
        }
    }

    fn base_get(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.reads.borrow().iter().find(|(n, _)| n == name) {
            return v.clone();
        }
        let v = self.base.get(name);
        self.reads.borrow_mut().push((name.to_string(), v.clone()));
        v
    }

    /// The edits on `name` after the last set/remove, and that set/remove.
    fn since_reset<'s>(
        &'s self,
        name: &'s str,
    ) -> (Option<&'s Edit>, impl Iterator<Item = &'s String> + 's) {
        let reset = self
            .edits
            .iter()
            .rposition(|e| e.name() == name && !matches!(e, Edit::Append(..)));
        let from = reset.map_or(0, |i| i + 1);
        let appended = self.edits[from..].iter().filter_map(move |e| match e {
            Edit::Append(n, v) if n == name => Some(v),
            _ => None,
        });
        (reset.map(|i| &self.edits[i]), appended)
    }
}

impl HeaderAccess for EditLog<'_> {
    fn get(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        let (reset, appended) = self.since_reset(&name);
        let mut value = match reset {
            Some(Edit::Set(_, v)) => Some(v.clone()),
            Some(Edit::Remove(_) | Edit::Append(..)) => None,
            None => self.base_get(&name),
        };
        for v in appended {
            value = Some(match value {
                Some(cur) => format!("{cur}, {v}"),
                None => v.clone(),
            });
        }
        value
    }

    fn set_cookies(&self) -> Vec<String> {
        let (reset, appended) = self.since_reset("set-cookie");
        let mut out = match reset {
            Some(Edit::Set(_, v)) => vec![v.clone()],
            Some(Edit::Remove(_) | Edit::Append(..)) => Vec::new(),
            None if self.base_cookies => self.base.set_cookies(),
            None => Vec::new(),
        };
        out.extend(appended.cloned());
        out
    }

    fn set(&mut self, name: &str, value: &str) {
        self.edits
            .push(Edit::Set(name.to_ascii_lowercase(), value.to_string()));
    }

    fn append(&mut self, name: &str, value: &str) {
        self.edits
            .push(Edit::Append(name.to_ascii_lowercase(), value.to_string()));
    }

    fn remove(&mut self, name: &str) {
        self.edits.push(Edit::Remove(name.to_ascii_lowercase()));
    }
}

/// Applies edits to a header list (what the JS entry does with the log).
pub fn apply(edits: &[Edit], headers: &mut dyn HeaderAccess) {
    for e in edits {
        match e {
            Edit::Set(n, v) => headers.set(n, v),
            Edit::Append(n, v) => headers.append(n, v),
            Edit::Remove(n) => headers.remove(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderList;
    use std::cell::Cell;

    /// A base that counts its reads.
    struct Counting(HeaderList, Cell<usize>);
    impl HeaderAccess for Counting {
        fn get(&self, name: &str) -> Option<String> {
            self.1.set(self.1.get() + 1);
            self.0.get(name)
        }
        fn set_cookies(&self) -> Vec<String> {
            self.1.set(self.1.get() + 1);
            self.0.set_cookies()
        }
        fn set(&mut self, _: &str, _: &str) {}
        fn append(&mut self, _: &str, _: &str) {}
        fn remove(&mut self, _: &str) {}
    }

    #[test]
    fn reads_see_edits_and_applying_the_log_matches_editing_directly() {
        let base = HeaderList::new()
            .with("a", "1")
            .with("b", "2")
            .with("set-cookie", "x=1");
        let counting = Counting(base.clone(), Cell::new(0));
        let mut log = EditLog::new(&counting, true);
        let mut direct = base.clone();
        let script: Vec<(&str, &str, &str)> = vec![
            ("a", "A", ""),
            ("s", "b", "3"),
            ("a", "b", "4"),
            ("d", "a", ""),
            ("a", "c", "5"),
            ("a", "set-cookie", "y=2"),
        ];
        for (op, n, v) in script {
            for h in [&mut log as &mut dyn HeaderAccess, &mut direct] {
                match op {
                    "s" => h.set(n, v),
                    "a" => h.append(n, v),
                    _ => h.remove(n),
                }
            }
            for name in ["a", "b", "c", "set-cookie"] {
                assert_eq!(log.get(name), direct.get(name), "{name} after {op} {n}");
            }
            assert_eq!(log.set_cookies(), direct.set_cookies());
        }
        let mut applied = base.clone();
        apply(log.edits(), &mut applied);
        assert_eq!(applied, direct);
        let mut wire = String::new();
        log.write_to(&mut wire);
        assert!(
            wire.starts_with("\na\na\n\ns\nb\n3\na\nb\n4\nd\na\n\n"),
            "{wire:?}"
        );
    }

    #[test]
    fn each_base_header_is_read_once_and_cookies_only_when_present() {
        let counting = Counting(HeaderList::new().with("h", "v"), Cell::new(0));
        let log = EditLog::new(&counting, false);
        for _ in 0..5 {
            assert_eq!(log.get("H").as_deref(), Some("v"));
        }
        assert!(log.set_cookies().is_empty());
        assert_eq!(counting.1.get(), 1);
    }
}
