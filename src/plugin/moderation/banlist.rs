//! Shared ban lists (`ban_lists`): user ids read from files, banned on
//! sight. An id applies on every adapter unless pinned as `ADAPTER:ID`.

use std::collections::HashSet;

use crate::bot::Scoped;
use crate::event::{AdapterId, UserId};

/// The users of every configured list.
#[derive(Debug, Default)]
pub(crate) struct BanList {
    /// Ids listed for every adapter.
    anywhere: HashSet<UserId>,
    /// Ids listed for one adapter.
    pinned: HashSet<(AdapterId, UserId)>,
}

impl BanList {
    /// Add the ids of a list file's `text` (one a line, `#` comments and
    /// blank lines skipped); `adapters` are the bot's, for `ADAPTER:ID`.
    pub(crate) fn extend(&mut self, text: &str, adapters: &[AdapterId]) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let scoped: Scoped<UserId> = Scoped::parse(line, adapters);
            match scoped.adapter {
                Some(adapter) => {
                    self.pinned.insert((adapter, scoped.id));
                }
                None => {
                    self.anywhere.insert(scoped.id);
                }
            }
        }
    }

    /// Whether `user` of `adapter` is listed.
    pub(crate) fn contains(&self, adapter: &AdapterId, user: &UserId) -> bool {
        if self.anywhere.is_empty() && self.pinned.is_empty() {
            return false;
        }
        self.anywhere.contains(user) || self.pinned.contains(&(adapter.clone(), user.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_apply_everywhere_unless_pinned() {
        let mut list = BanList::default();
        let adapters: Vec<AdapterId> = vec!["tg".into(), "console".into()];
        list.extend("# spammers\nspam1\n\ntg:spam2  # pinned\n", &adapters);
        assert!(list.contains(&"console".into(), &"spam1".into()));
        assert!(list.contains(&"tg".into(), &"spam1".into()));
        assert!(list.contains(&"tg".into(), &"spam2".into()));
        assert!(!list.contains(&"console".into(), &"spam2".into()));
        assert!(!list.contains(&"tg".into(), &"alice".into()));
    }
}
