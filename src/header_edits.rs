//! Header edits as data: a `HeaderAccess` that reads through to a base view (each
//! name at most once) and only logs writes, so the JS entry can apply a whole
//! phase's edits itself instead of crossing into JS per edit.

use crate::message::{list_with, HeaderAccess};
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
    /// Add a token to a comma-separated list unless present (`Vary`; see
    /// `crate::message::list_with`).
    AddToList(String, String),
}

impl Edit {
    /// The (lowercase) header name it edits.
    pub fn name(&self) -> &str {
        match self {
            Self::Set(n, _) | Self::Append(n, _) | Self::Remove(n) | Self::AddToList(n, _) => n,
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

    /// Writes `edits` in the wire format of [`EditLog::write_to`].
    pub fn write_edits(edits: &[Edit], out: &mut String) {
        for e in edits {
            let _ = match e {
                Edit::Set(n, v) => write!(out, "\ns\n{n}\n{v}"),
                Edit::Append(n, v) => write!(out, "\na\n{n}\n{v}"),
                Edit::Remove(n) => write!(out, "\nd\n{n}\n"),
                Edit::AddToList(n, t) => write!(out, "\nl\n{n}\n{t}"),
            };
        }
    }

    /// The edits as `op\nname\nvalue` triples joined by `\n` (`s` set | `a` append |
    /// `d` delete | `l` add to list; names and values never hold a newline), each
    /// preceded by `\n`.
    pub fn write_to(&self, out: &mut String) {
        Self::write_edits(&self.edits, out);
    }

    fn base_get(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.reads.borrow().iter().find(|(n, _)| n == name) {
            return v.clone();
        }
        let v = self.base.get(name);
        self.reads.borrow_mut().push((name.to_string(), v.clone()));
        v
    }

    /// The last set/remove of `name`, and the list edits (append, add-to-list)
    /// after it, in order.
    fn since_reset<'s>(
        &'s self,
        name: &'s str,
    ) -> (Option<&'s Edit>, impl Iterator<Item = &'s Edit> + 's) {
        let reset = self
            .edits
            .iter()
            .rposition(|e| e.name() == name && matches!(e, Edit::Set(..) | Edit::Remove(_)));
        let from = reset.map_or(0, |i| i + 1);
        let later = self.edits[from..].iter().filter(move |e| e.name() == name);
        (reset.map(|i| &self.edits[i]), later)
    }
}

impl HeaderAccess for EditLog<'_> {
    fn get(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        let (reset, later) = self.since_reset(&name);
        let mut value = match reset {
            Some(Edit::Set(_, v)) => Some(v.clone()),
            Some(Edit::Remove(_) | Edit::Append(..) | Edit::AddToList(..)) => None,
            None => self.base_get(&name),
        };
        for e in later {
            match e {
                Edit::Append(_, v) => {
                    value = Some(match value {
                        Some(cur) => format!("{cur}, {v}"),
                        None => v.clone(),
                    })
                }
                Edit::AddToList(_, t) => {
                    if let Some(v) = list_with(value.as_deref(), t) {
                        value = Some(v);
                    }
                }
                Edit::Set(..) | Edit::Remove(_) => {}
            }
        }
        value
    }

    fn set_cookies(&self) -> Vec<String> {
        let (reset, later) = self.since_reset("set-cookie");
        let mut out = match reset {
            Some(Edit::Set(_, v)) => vec![v.clone()],
            Some(Edit::Remove(_) | Edit::Append(..) | Edit::AddToList(..)) => Vec::new(),
            None if self.base_cookies => self.base.set_cookies(),
            None => Vec::new(),
        };
        for e in later {
            match e {
                Edit::Append(_, v) | Edit::AddToList(_, v) => out.push(v.clone()),
                Edit::Set(..) | Edit::Remove(_) => {}
            }
        }
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

    /// Logged, not read: the JS entry applies it to the response it has, so a
    /// response phase made only of such edits needs no call back into Wasm.
    fn add_to_list(&mut self, name: &str, token: &str) {
        self.edits.push(Edit::AddToList(
            name.to_ascii_lowercase(),
            token.to_string(),
        ));
    }
}

/// Applies edits to a header list (what the JS entry does with the log).
pub fn apply(edits: &[Edit], headers: &mut dyn HeaderAccess) {
    for e in edits {
        match e {
            Edit::Set(n, v) => headers.set(n, v),
            Edit::Append(n, v) => headers.append(n, v),
            Edit::Remove(n) => headers.remove(n),
            Edit::AddToList(n, t) => headers.add_to_list(n, t),
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
            ("l", "vary", "Origin"),
            ("l", "Vary", "origin"),
            ("s", "v2", " "),
            ("l", "v2", "X"),
            ("a", "v2", "Y"),
            ("l", "v2", "y"),
        ];
        for (op, n, v) in script {
            for h in [&mut log as &mut dyn HeaderAccess, &mut direct] {
                match op {
                    "s" => h.set(n, v),
                    "a" => h.append(n, v),
                    "l" => h.add_to_list(n, v),
                    _ => h.remove(n),
                }
            }
            for name in ["a", "b", "c", "set-cookie", "vary", "v2"] {
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
